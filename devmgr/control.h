/*
 * control.h - devmgr-private: the context of one control request, shared
 * by control.c (dispatch, users, devices) and health.c (HEALTH, AUTO_HEAL,
 * STATS).  A handler fills status/code/message/data; control.c sends it.
 */
#ifndef DEVMGR_CONTROL_H
#define DEVMGR_CONTROL_H

#include "devmgr.h"

/* ---- request context and replies ---- */

struct ctl {
	const struct ipc_msg	*m;
	Ipc__Request		*req;
	json_object		*args;		/* req->json parsed, or NULL */
	json_object		*query;		/* req->query parsed, or NULL */
	char			 user[REG_USER_MAX + 1];
	int			 authed;
	int			 admin;
	int			 operator;
	Ipc__RateInfo		 rate;
	int			 rated;
	/* the reply */
	int			 status;
	const char		*code;
	char			 message[256];
	json_object		*data;
	int			 async;		/* answered later */
	struct reg_device	 dev;		/* the targeted device */
	int			 have_dev;
};

void		 ctl_set(struct ctl *, int status, const char *code,
		    const char *msg);
void		 ctl_ok(struct ctl *, int status, const char *msg,
		    json_object *data);
void		 ctl_audit(struct ctl *, const char *action, const char *device);
json_object	*ctl_process_json(const char *hash, const struct worker_info *);
void		 jadd_str(json_object *, const char *k, const char *v);
void		 jadd_time(json_object *, const char *k, int64_t ms);
size_t		 control_user_count(void);

/* health.c */
void		 health_check(struct ctl *);
void		 health_auto_heal(struct ctl *);
void		 health_stats(struct ctl *);

#endif

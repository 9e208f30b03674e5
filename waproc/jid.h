/*
 * jid.h - WhatsApp JIDs (PROTOCOL.md 4): parse and format the string forms
 *   user@server, user:device@server, user.agent:device@server (legacy agent,
 *   s.whatsapp.net only, whose users therefore have no '.'),
 *   integrator-user:device@interop (integrator always written), and
 *   @server / server
 * and the AD_JID domain mapping of the binary encoding (3.4).  A struct jid
 * is a plain value (fixed bounded buffers, nothing to free).  No I/O.
 */
#ifndef WAPROC_JID_H
#define WAPROC_JID_H

#include <stddef.h>
#include <stdint.h>

#define JID_USER_MAX	128	/* bytes incl. NUL */
#define JID_SERVER_MAX	32	/* bytes incl. NUL */
#define JID_STR_MAX	192	/* any formatted JID fits, incl. NUL */

#define JID_SERVER_PN		"s.whatsapp.net"
#define JID_SERVER_LID		"lid"
#define JID_SERVER_GROUP	"g.us"
#define JID_SERVER_BROADCAST	"broadcast"
#define JID_SERVER_NEWSLETTER	"newsletter"
#define JID_SERVER_LEGACY	"c.us"
#define JID_SERVER_HOSTED	"hosted"
#define JID_SERVER_HOSTED_LID	"hosted.lid"
#define JID_SERVER_BOT		"bot"
#define JID_SERVER_MSGR		"msgr"
#define JID_SERVER_INTEROP	"interop"

/* AD_JID domainType byte (3.4); any other value is a legacy agent on PN. */
#define JID_DOMAIN_PN		0
#define JID_DOMAIN_LID		1
#define JID_DOMAIN_HOSTED	128
#define JID_DOMAIN_HOSTED_LID	129

#define JID_EINVAL	(-1)	/* malformed or too long */

struct jid {
	char		user[JID_USER_MAX];	/* "" for a server JID */
	char		server[JID_SERVER_MAX];	/* never "" once set */
	uint16_t	device;		/* 0 = primary device (the phone) */
	uint16_t	integrator;	/* @interop only */
	uint8_t		agent;		/* legacy raw agent, s.whatsapp.net only */
};

/* Parse a NUL-terminated / length-delimited string; *j cleared first. */
int	jid_parse(struct jid *j, const char *s);
int	jid_parsen(struct jid *j, const char *s, size_t len);
/* Build from parts (device 0 = none); validates like jid_parse. */
int	jid_set(struct jid *j, const char *user, const char *server,
	    uint16_t device);
/* String form into out; returns its length, or JID_EINVAL if outsz is too
 * small (out then holds ""). A server JID formats as "@server". */
int	jid_format(const struct jid *j, char *out, size_t outsz);

/* The AD_JID domainType byte for j (agent for s.whatsapp.net). */
uint8_t	jid_ad_domain(const struct jid *j);
/* Fill j from AD_JID fields; returns 0 or JID_EINVAL. */
int	jid_from_ad(struct jid *j, uint8_t domain, uint8_t device,
	    const char *user, size_t userlen);

int	jid_equal(const struct jid *a, const struct jid *b);
int	jid_server_is(const struct jid *j, const char *server);
int	jid_is_user(const struct jid *j);	/* PN, LID, hosted (with user) */
int	jid_is_group(const struct jid *j);
int	jid_is_broadcast(const struct jid *j);	/* incl. status@broadcast */
int	jid_is_status(const struct jid *j);	/* status@broadcast */
int	jid_is_newsletter(const struct jid *j);
/* Copy without device and agent ("bare" user JID). */
void	jid_to_bare(struct jid *dst, const struct jid *src);
/* Signal address name (4): user, or user_<domain> for non-PN domains. */
int	jid_signal_name(const struct jid *j, char *out, size_t outsz);

#endif

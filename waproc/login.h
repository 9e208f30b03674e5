/*
 * login.h - pairing and the chores right after login, on top of conn.c:
 * the QR flow (PROTOCOL.md 5.1: pair-device refs shown 60 s then 20 s
 * each, pair-success verified and signed, pair-device-sign reply), the
 * pair-code flow (5.2), and after <success> (6.1-6.2): own LID, prekey
 * count and upload (812 first, refill when low), passive <active/>,
 * presence.  Crypto comes from pairing.c and signal-keys.c; nothing here
 * touches the network except through conn_send_*.
 */
#ifndef WAPROC_LOGIN_H
#define WAPROC_LOGIN_H

#include <stdint.h>

#include "binnode.h"
#include "pairing.h"

struct conn;
struct login;

struct login	*login_new(struct conn *);
void		 login_free(struct login *);
/* A new connection starts (forget refs, timers). */
void		 login_reset(struct login *);
/* Offer a stanza; 1 if login consumed it. */
int		 login_handle(struct login *, const struct binnode *);
/* <success> arrived. */
void		 login_on_success(struct login *, const struct binnode *);
/* Timers: ms until login_tick wants to run (-1 none). */
int		 login_timeout_ms(struct login *, uint64_t now);
void		 login_tick(struct login *, uint64_t now);
/* Start the pair-code flow (see conn_pair_phone). */
int		 login_pair_phone(struct login *, const char *phone,
		    char code_out[PAIRING_CODE_LEN + 2]);

#endif

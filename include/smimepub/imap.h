/*
 * smimepub: a mailbox of signed mail over IMAP (SPEC §9), the input of the mailbox harvester.
 *
 * libcurl speaks IMAP; this file decides what is asked. The invariant that keeps a run exactly
 * once: a message is new while it lacks the keyword SMP_IMAP_KEYWORD, and only a definite
 * outcome sets it (then, optionally, moves the message). A connection lost anywhere before the
 * keyword is set leaves the message new, and the next run takes it again; publishing is
 * idempotent, so the second time finds its certificate already there.
 *
 * Mail is hostile: a message body is only ever fetched alone, by its UID, through libcurl's
 * literal-length framing (never a range whose end a crafted line could fake), after the server
 * said its size, and never more than the size limit is read.
 */
#ifndef SMIMEPUB_IMAP_H
#define SMIMEPUB_IMAP_H

#include <stddef.h>
#include <stdint.h>

#include "smimepub/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The keyword a harvested message carries (RFC 9051 keywords begin with '$' by convention). */
#define SMP_IMAP_KEYWORD "$SmimeHarvested"

/* The default limit of one message's size: S/MIME mail with certificates is a few KiB. */
#define SMP_IMAP_MAX_SIZE_DEFAULT (10u * 1024 * 1024)

#define SMP_IMAP_VERSION 1

typedef struct smp_imap_options {
	unsigned version;        /* SMP_IMAP_VERSION */
	const char *url;         /* imaps://USER@HOST[:PORT]/MAILBOX or imap://… (STARTTLS) */
	const char *password;    /* borrowed; or NULL with token_file */
	const char *token_file;  /* OAuth2 access token (SASL OAUTHBEARER / XOAUTH2), read again
				    before every request, so that an outside refresher works */
	const char *ca_file;     /* trust anchors of the server's certificate; NULL: system */
	int insecure;            /* imap:// may go without STARTTLS */
	long timeout;            /* seconds to connect, and of silence mid-transfer (0: 30) */
	size_t max_size;         /* bytes of one message at most (0: the default) */
} smp_imap_options;

#define SMP_IMAP_OPTIONS_INIT { SMP_IMAP_VERSION, NULL, NULL, NULL, NULL, 0, 0, 0 }

typedef struct smp_imap smp_imap;

/*
 * Checks the URL (imap or imaps, a user, a mailbox or INBOX, no password, no ;UID= or search
 * part: SMP_ERR_USAGE), connects, logs in and selects the mailbox. Returns 0 and *out (close
 * with smp_imap_close), SMP_ERR_ACCESS (login refused, also an OAuth2 token), SMP_ERR_NOTFOUND
 * (no such mailbox), SMP_ERR_UNAVAILABLE (no connection, TLS or its verification failed, no
 * STARTTLS offered on imap://), SMP_ERR_NOFILE (the token file), with err saying which.
 */
int smp_imap_open(smp_imap **out, const smp_imap_options *o, smp_error *err);

/* The URL check of smp_imap_open alone, before anything else is read: 0 or SMP_ERR_USAGE. */
int smp_imap_check_url(const char *url, smp_error *err);

/* "imaps://user@host:port/MAILBOX" (static in m): how messages and logs name the mailbox. */
const char *smp_imap_label(const smp_imap *m);

/*
 * Makes sure folder exists (LIST, then CREATE). folder: UTF-8, sent in modified UTF-7
 * (checked by smp_imap_folder_ok). Returns 0 or an error.
 */
int smp_imap_ensure_folder(smp_imap *m, const char *folder, smp_error *err);

/* The longest folder name smp_imap_folder_ok takes, in bytes of UTF-8. */
#define SMP_IMAP_FOLDER_MAX 200

/*
 * Whether folder is a name this client can send: valid UTF-8 of at most SMP_IMAP_FOLDER_MAX
 * bytes without control characters, '"' or '\' (modified UTF-7 on the wire, RFC 3501
 * 5.1.3): 1 or 0.
 */
int smp_imap_folder_ok(const char *folder);

/*
 * The UIDs of the mailbox's messages that lack SMP_IMAP_KEYWORD and are not \Deleted, in
 * ascending order, into *uids (caller frees) and *n. Returns 0 or an error.
 */
int smp_imap_new_messages(smp_imap *m, uint32_t **uids, size_t *n, smp_error *err);

/*
 * As smp_imap_new_messages, but every message not \Deleted, keyword or not: for a run that
 * files every message into a folder, where one still here was not filed (its move failed
 * after the keyword was set) and must be judged and filed again.
 */
int smp_imap_unfiled_messages(smp_imap *m, uint32_t **uids, size_t *n, smp_error *err);

/*
 * One message's size and whether it is \Seen, without its body. Returns 0, SMP_ERR_NOTFOUND
 * (no such UID any more: another client expunged it), or an error.
 */
int smp_imap_probe(smp_imap *m, uint32_t uid, uint64_t *size, int *seen, smp_error *err);

/*
 * The bytes of message uid into *data (caller frees) and *len. A message over the size limit
 * is SMP_ERR_BADINPUT (its body not read past the limit); gone, SMP_ERR_NOTFOUND. Fetching
 * sets \Seen, as every IMAP client's BODY[] does.
 */
int smp_imap_fetch(smp_imap *m, uint32_t uid, unsigned char **data, size_t *len,
		   smp_error *err);

/* Takes \Seen off message uid again (what a dry run leaves as it found). 0 or an error. */
int smp_imap_unsee(smp_imap *m, uint32_t uid, smp_error *err);

/*
 * Sets SMP_IMAP_KEYWORD on uid. With verify, then searches for it: a server that does not keep
 * keywords (Exchange's IMAP) makes this SMP_ERR_USAGE, saying so. 0 or an error.
 */
int smp_imap_mark(smp_imap *m, uint32_t uid, int verify, smp_error *err);

/*
 * Moves uid into folder: UID MOVE where the server has MOVE (RFC 6851), else UID COPY, \Deleted
 * and UID EXPUNGE of that UID alone (UIDPLUS; without it the message stays, \Deleted, and
 * *left is set). left may be NULL. 0 or an error.
 */
int smp_imap_move(smp_imap *m, uint32_t uid, const char *folder, int *left, smp_error *err);

/* Logs out and frees m (NULL: nothing). */
void smp_imap_close(smp_imap *m);

#ifdef __cplusplus
}
#endif

#endif

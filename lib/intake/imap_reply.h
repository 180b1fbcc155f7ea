/*
 * The untagged replies of the IMAP commands the harvester sends itself (libcurl passes them on
 * as they came): SEARCH, CAPABILITY, FETCH of FLAGS and RFC822.SIZE, LIST. Only the server
 * writes these lines, never a message's content (no body is fetched this way), but they are
 * parsed as untrusted bytes anyway: tests/fuzz/fuzz_imap.c. And the mailbox names the client
 * writes, in modified UTF-7. Pure functions.
 */
#ifndef SMIMEPUB_IMAP_REPLY_H
#define SMIMEPUB_IMAP_REPLY_H

#include <stddef.h>
#include <stdint.h>

enum {
	IMAP_CAP_MOVE = 1 << 0,      /* RFC 6851 */
	IMAP_CAP_UIDPLUS = 1 << 1,   /* RFC 4315: UID EXPUNGE */
	IMAP_CAP_IDLE = 1 << 2,      /* RFC 2177 */
};

/* Most UIDs one SEARCH reply may list (4 bytes each): far more than any mailbox holds. */
#define IMAP_SEARCH_MAX 10000000

/*
 * The UIDs of every "* SEARCH" line of reply[0..len), ascending, without repeats, into *uids
 * (caller frees; NULL when none) and *n. Returns 0, SMP_ERR_NOMEM, or SMP_ERR_BADINPUT when a
 * SEARCH line holds anything but UIDs (1 to 2^32-1) or more than IMAP_SEARCH_MAX of them.
 */
int imap_reply_search(const char *reply, size_t len, uint32_t **uids, size_t *n);

/* The IMAP_CAP_* bits the "* CAPABILITY" lines of reply announce. */
unsigned imap_reply_caps(const char *reply, size_t len);

/*
 * From the "* N FETCH (...)" line about uid: its RFC822.SIZE into *size and whether its FLAGS
 * hold \Seen into *seen. Returns 0, or SMP_ERR_NOTFOUND when no such line with both.
 */
int imap_reply_probe(const char *reply, size_t len, uint32_t uid, uint64_t *size, int *seen);

/* Whether some line of reply begins with "* " + word + " " (case-insensitive): 1 or 0. */
int imap_reply_has(const char *reply, size_t len, const char *word);

/*
 * A mailbox name name[0..len) of UTF-8 as IMAP writes it, in modified UTF-7 (RFC 3501 5.1.3:
 * "Entwürfe" is "Entw&APw-rfe", "&" is "&-"), into out (NUL-ended), through iconv's
 * UTF-7-IMAP (glibc 2.36). Returns 0, SMP_ERR_BADINPUT (not valid UTF-8, or longer than out),
 * SMP_ERR_USAGE (not plain ASCII and this system's iconv has no UTF-7-IMAP) or SMP_ERR_NOMEM.
 */
int imap_mailbox_name(const char *name, size_t len, char *out, size_t outsz);

#endif

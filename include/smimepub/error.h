/* smimepub: error context shared by the whole library. */
#ifndef SMIMEPUB_ERROR_H
#define SMIMEPUB_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Library functions return 0 on success or one of these negative codes. Only the codes a caller
 * acts on are distinguished; the human-readable reason is in the smp_error passed in.
 */
enum smp_code {
	SMP_OK = 0,
	SMP_ERR_INTERNAL = -1,    /* bug or unexpected library failure */
	SMP_ERR_NOMEM = -2,
	SMP_ERR_USAGE = -3,       /* bad option or argument (exit 64) */
	SMP_ERR_NOFILE = -4,      /* input file missing or unreadable (exit 66) */
	SMP_ERR_BADINPUT = -5,    /* not a certificate, malformed message or LDIF (exit 65) */
	SMP_ERR_UNAVAILABLE = -6, /* directory unreachable, TLS failure (exit 69) */
	SMP_ERR_ACCESS = -7,      /* bind refused or insufficient access (exit 77) */
	SMP_ERR_NOTFOUND = -8,    /* no directory entry matched */
	SMP_ERR_AMBIGUOUS = -9,   /* several directory entries matched */
	SMP_ERR_CONFLICT = -10,   /* the entry changed between read and write */
	SMP_ERR_LDAP = -11,       /* any other LDAP failure */
	SMP_ERR_CANCELLED = -12,  /* the front end asked the operation to stop (the session's
				     cancel flag): the item was not done */
};

#define SMP_ERROR_MSG_MAX 1024

/*
 * What the user can do about an error, beyond what its message says, for the front end to put
 * in its own words (a command line names its flags, a web page its fields): the library's
 * messages never name a front end's options. Stable: front ends key their hints by these.
 */
typedef enum smp_hint {
	SMP_HINT_NONE = 0,
	SMP_HINT_NO_URI,          /* name the directory's URI */
	SMP_HINT_NO_BASE,         /* name the search base */
	SMP_HINT_NO_PASSWORD,     /* give the bind password */
	SMP_HINT_PLAINTEXT_BIND,  /* use TLS (ldaps, StartTLS required), or allow clear text */
	SMP_HINT_CONTACT_PARENT,  /* name where contacts go (or the base) */
	SMP_HINT_JOURNAL_PATH,    /* name the journal's file */
	SMP_HINT_CA_DIR,          /* a hashed directory of anchors was wanted, not a file */
	SMP_HINT_SCHEMA_AD,       /* say the export is Active Directory's, if it is */
	SMP_HINT_BIND,            /* bind as an account (the directory refuses anonymous) */
	SMP_HINT_TRUST_NO_FILE,   /* trust sources name file: give the file of anchors */
	SMP_HINT_TRUST_UNUSED_FILE, /* anchors given that the trust sources leave out */
	SMP_HINT_IMAP_CA,         /* give the anchor of the IMAP server's certificate */
	SMP_HINT_IMAP_STARTTLS,   /* use imaps://, or allow clear text */
	SMP_HINT_IMAP_KEYWORD,    /* file processed messages into folders instead */
} smp_hint;

/* Where a failing function leaves its message. Never a global: callers own it. */
typedef struct smp_error {
	int code;
	char msg[SMP_ERROR_MSG_MAX];
	smp_hint hint;            /* set by smp_error_set_hint; else NONE */
} smp_error;

#define SMP_ERROR_INIT { 0, { 0 }, SMP_HINT_NONE }

/* Records code and a printf-style message in err (err may be NULL). Returns code. */
int smp_error_set(smp_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Like smp_error_set, then appends ": " and the first reason in OpenSSL's error queue (if any)
 * and empties the queue. Returns code.
 */
/*
 * Whether OpenSSL's error queue says that what just failed failed for lack of memory (its
 * first error is ERR_R_MALLOC_FAILURE): then a decoder's NULL does not mean "not a
 * certificate" nor a verification's failure "untrusted". Leaves the queue as it is.
 */
int smp_openssl_out_of_memory(void);

int smp_error_openssl(smp_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* smp_error_set that also attaches hint. Returns code. */
int smp_error_set_hint(smp_error *err, int code, smp_hint hint, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Clears err. */
void smp_error_clear(smp_error *err);

/* The process exit status (SPEC §5) for a library code: 0, 64, 65, 66, 69, 77 or 1. */
int smp_exit_status(int code);

/*
 * The worse of two process exit statuses (SPEC §5), for a run that keeps going after a
 * failure and exits with the worst: 77 (access) > 69 (directory unavailable) > 66 (input
 * missing) > 65 (bad input) = 64 (usage) > 1 (items failed) > 0. Any other non-zero status
 * ranks as 1. On a tie the first (a) is kept. Every command's "worst status" is this rule.
 */
int smp_status_worse(int a, int b);

#ifdef __cplusplus
}
#endif

#endif

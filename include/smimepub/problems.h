/*
 * smimepub: the one table of problem codes (SPEC §3): each code's severity, what it is about,
 * a plain-language description and general advice. Every finding the library reports carries
 * one of these codes; front ends render the code's advice in their own words (a command line
 * names its flags, a web page its buttons), keyed by the code and the finding's remedy.
 */
#ifndef SMIMEPUB_PROBLEMS_H
#define SMIMEPUB_PROBLEMS_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum smp_severity {
	SMP_SEV_NONE = 0,
	SMP_SEV_WARNING = 1,
	SMP_SEV_CRITICAL = 2,
} smp_severity;

/* What a problem is about. */
typedef enum smp_scope {
	SMP_SCOPE_CERTIFICATE = 0, /* one certificate, wherever it is */
	SMP_SCOPE_ENTRY,           /* a directory entry as a whole: its values, their order */
	SMP_SCOPE_MESSAGE,         /* the mail message a certificate came in */
} smp_scope;

/*
 * What the administrator has to do about one finding beyond what its message says, for the
 * front end to put in its own words after the message (the message then reads as a sentence
 * either way). Stable: a front end keys its advice by these.
 */
typedef enum smp_remedy {
	SMP_REMEDY_NONE = 0,
	SMP_REMEDY_GIVE_INTERMEDIATE,  /* give the CA certificate the message names as an extra
					  intermediate ("... and pass it with --untrusted") */
	SMP_REMEDY_GIVE_ANCHOR,        /* make the CA certificate named a trust anchor
					  ("... and add it with --ca-file") */
	SMP_REMEDY_GIVE_SELF_ANCHOR,   /* the certificate itself, once its fingerprint is
					  confirmed (", add it with --ca-file") */
	SMP_REMEDY_GIVE_ISSUER_ANCHOR, /* "add that CA's certificate [from URL]" + how */
	SMP_REMEDY_CHECK_TRUST,        /* the anchors and intermediates given are wrong */
	SMP_REMEDY_PRUNE,              /* the value can go: the front end's prune */
	SMP_REMEDY_REORDER,            /* the order can be fixed: the front end's publish, or
					  removing the value */
	SMP_REMEDY_CHECK_SENDER,       /* from_mismatch refused: confirm with the sender */
	SMP_REMEDY_SENDER_ALLOWED,     /* from_mismatch accepted because the operator said so */
	SMP_REMEDY_OVERRIDE,           /* the front end's way to go ahead anyway (--force) */
	SMP_REMEDY_PUBLISH_CA,         /* publish the CA the problem's ca_* fields name in the
					  directory (the front end's ca publish) */
} smp_remedy;

#define SMP_REMEDY_LAST SMP_REMEDY_PUBLISH_CA

/* One finding: a stable code (SPEC §3), its severity, what is wrong, and the remedy. */
typedef struct smp_problem {
	const char *code;       /* the table's static string, e.g. "expired" */
	smp_severity severity;  /* the table's, unless the caller lowered it (from_mismatch) */
	char *message;          /* owned: what is wrong in plain words with the facts (names,
				   dates, URLs) and what to ask for; never a command-line flag */
	smp_remedy remedy;      /* what the front end adds after the message */
	/* SMP_REMEDY_PUBLISH_CA: the CA to publish (else all NULL / 0) */
	char *ca_sha256;        /* owned: its SHA-256, lower-case hex */
	char *ca_file;          /* owned: the local file it was found in, or NULL when unknown */
	int ca_root;            /* it is a self-signed root (publishing it needs the explicit
				   root confirmation) */
} smp_problem;

/* One row of the table. */
typedef struct smp_problem_def {
	const char *code;
	smp_severity severity;
	smp_scope scope;
	const char *summary;    /* one line: what the code means */
	const char *advice;     /* one line: what to do, in no front end's terms */
} smp_problem_def;

/* The row for code, or NULL for a code that is not in the table. */
const smp_problem_def *smp_problem_lookup(const char *code);

/* The number of rows, and row i (NULL past the end), in the table's order. */
size_t smp_problem_count(void);
const smp_problem_def *smp_problem_at(size_t i);

/* Severity of a problem code per the table; a code not in it is critical. */
smp_severity smp_problem_severity(const char *code);

/* "warning" or "critical" (or "none"). */
const char *smp_severity_name(smp_severity sev);

/* "certificate", "entry" or "message". */
const char *smp_scope_name(smp_scope scope);

/*
 * Appends a problem to the array *v of *n (realloc'ed): the code interned as the table's
 * string (an unknown code is kept as given: pass a static string), the table's severity,
 * remedy, and the message formatted from fmt. Returns 0, SMP_ERR_NOMEM, or SMP_ERR_INTERNAL
 * for a NULL argument.
 */
int smp_problems_vadd(smp_problem **v, size_t *n, const char *code, smp_remedy remedy,
		      const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

/*
 * Sets the ca_* fields of problem p (copies sha256 and file, which may be NULL). Returns 0 or
 * SMP_ERR_NOMEM (p unchanged).
 */
int smp_problem_set_ca(smp_problem *p, const char *sha256, const char *file, int root);

/* Frees the messages of n problems and the array (NULL is fine). */
void smp_problems_free(smp_problem *v, size_t n);

#ifdef __cplusplus
}
#endif

#endif

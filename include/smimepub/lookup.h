/*
 * smimepub: what mail clients find for one recipient on one directory entry (SPEC §4), for
 * every front end (the command's lookup, the web page's /api/lookup). Pure: the entry is read
 * by the caller; the judgement is audit's (smp_audit_entry_for) and the client model's
 * (clients.h), so lookup and audit never disagree about a value.
 */
#ifndef SMIMEPUB_LOOKUP_H
#define SMIMEPUB_LOOKUP_H

#include <stddef.h>

#include "smimepub/audit.h"
#include "smimepub/cert.h"
#include "smimepub/clients.h"
#include "smimepub/dir.h"
#include "smimepub/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * One value on the entry, as the clients see it. Values are numbered from 0 within their
 * attribute, in directory order: the numbering of audit, prune, remove and every format.
 */
typedef struct smp_lookup_value {
	smp_cert_attr kind;       /* SMP_ATTR_SMIME or SMP_ATTR_CERT */
	const char *attr;         /* attribute it was read in (borrowed), or NULL: not known */
	size_t index;             /* 0-based within its attribute */
	size_t size;              /* bytes */
	const char *sha256;       /* lower-case hex of the value's bytes, borrowed; "" when
				     unknown (a userSMIMECertificate value that is unreadable) */
	const smp_certinfo *info; /* borrowed from the result; NULL: not a certificate */
	smp_problem *problems;    /* owned: the value's problems, exactly audit's for the
				     recipient (first_unusable stays on value 0, as there) */
	size_t n_problems;
	smp_severity severity;    /* the worst of problems */
	int usable;               /* usable for the recipient (smp_cert_usable_for) */
	int chosen;               /* the value Outlook encrypts with (never one that is not
				     for the recipient) */
	unsigned clients;         /* bit (1u << smp_client) for each client that takes it */
	unsigned encrypted_by;    /* bit for each client that encrypts to the recipient with it */
} smp_lookup_value;

/* Why the verdict is not "every client encrypts" (smp_lookup_result.reason). */
#define SMP_LOOKUP_NO_CERTIFICATE "no_certificate"               /* nothing on the entry */
#define SMP_LOOKUP_NO_USABLE "no_usable_certificate"             /* no client encrypts */
#define SMP_LOOKUP_SOME_CLIENTS "some_clients_cannot_encrypt"    /* some do, some do not */

typedef struct smp_lookup_result {
	const smp_entry *entry;   /* borrowed: must outlive this */
	smp_audit_entry *audit;   /* owned: the entry judged for the recipient */
	smp_lookup_value *values; /* userSMIMECertificate values, then userCertificate values,
				     each in directory order */
	size_t n_values;
	smp_problem *findings;    /* owned: about the entry, audit's entry problems (ambiguous,
				     too_many_values, no_mail_attribute, smime_attr_shadows) */
	size_t n_findings;
	smp_client_pick picks[SMP_CLIENT_COUNT]; /* what each client takes (clients.h) */
	/* the verdict, read from the lines above it: */
	unsigned encrypting;      /* bit (1u << smp_client) for each client that encrypts */
	const char *reason;       /* NULL: every client encrypts; else SMP_LOOKUP_* */
	smp_severity severity;    /* the worst of: the findings, each client's failure
				     (smp_client_why_severity), the problems of each value a
				     client encrypts with */
	int usable;               /* severity below critical: every client encrypts to the
				     recipient, or fails only for its own limit (warning) */
} smp_lookup_result;

/*
 * Judges entry e, one of n_matches entries the directory found for address (normalised), for
 * mail to address, with trust t. n_matches > 1 adds the finding `ambiguous`. Returns 0 and a
 * result the caller frees with smp_lookup_result_free (it borrows e), or SMP_ERR_NOMEM /
 * SMP_ERR_INTERNAL.
 */
int smp_lookup_entry(smp_lookup_result **out, const smp_entry *e, const char *address,
		     size_t n_matches, const smp_trust *t, smp_error *err);

void smp_lookup_result_free(smp_lookup_result *r);

#ifdef __cplusplus
}
#endif

#endif

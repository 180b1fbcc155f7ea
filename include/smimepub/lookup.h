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

/* One value on the entry, as the clients see it. */
typedef struct smp_lookup_value {
	smp_cert_attr kind;       /* SMP_ATTR_SMIME or SMP_ATTR_CERT */
	const char *attr;         /* attribute it was read in (borrowed), or NULL: not known */
	size_t position;          /* 1-based within its attribute */
	size_t size;              /* bytes */
	const smp_certinfo *info; /* borrowed from the result; NULL: not a certificate */
	smp_problem *problems;    /* owned: the value's problems (those about the entry are in
				     the result's findings instead) */
	size_t n_problems;
	int usable;               /* usable for the recipient (smp_cert_usable_for) */
	int chosen;               /* the value Outlook encrypts with */
	unsigned clients;         /* bit (1u << smp_client) for each client that takes it */
} smp_lookup_value;

typedef struct smp_lookup_result {
	const smp_entry *entry;   /* borrowed: must outlive this */
	smp_audit_entry *audit;   /* owned: the entry judged for the recipient */
	smp_lookup_value *values; /* userSMIMECertificate values, then userCertificate values,
				     each in directory order */
	size_t n_values;
	smp_problem *findings;    /* owned: about the entry (scope "entry" in problems.h):
				     ambiguous, too_many_values, no_mail_attribute,
				     smime_attr_shadows, first_unusable */
	size_t n_findings;
	smp_client_pick picks[SMP_CLIENT_COUNT]; /* what each client takes (clients.h) */
	int usable;               /* Outlook can encrypt to the recipient with what it takes */
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

/*
 * The one table of problem codes (SPEC §3). Severity comes from here and nowhere else; the
 * unit test checks that every code the library emits has a row and that the warnings are
 * exactly SPEC §3's list.
 */
#include "smimepub/problems.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smimepub/error.h"

#define W SMP_SEV_WARNING
#define C SMP_SEV_CRITICAL
#define CERT SMP_SCOPE_CERTIFICATE
#define ENTRY SMP_SCOPE_ENTRY
#define MSG SMP_SCOPE_MESSAGE

static const smp_problem_def table[] = {
	/* the certificate itself */
	{ "expired", C, CERT, "the certificate's validity period is over",
	  "ask the partner for their current certificate" },
	{ "not_yet_valid", C, CERT, "the certificate's validity period has not begun",
	  "publish it once it is valid, or ask the partner about the date" },
	{ "untrusted", C, CERT, "no path from the certificate to a trust anchor",
	  "get the partner's CA certificates, check them with the partner and trust them" },
	{ "missing_intermediate", C, CERT, "the certificate's issuer is not available",
	  "get the issuing CA's certificate (AIA caIssuers URL, or from the partner)" },
	{ "no_address", C, CERT, "the certificate holds no usable mailbox address",
	  "ask the partner for a certificate with their address in subjectAltName" },
	{ "bad_address", C, CERT, "an address in the certificate is not a usable mailbox",
	  "ask the partner for a certificate that names a plain mailbox address" },
	{ "address_from_cn", W, CERT, "the address was taken from the subject CN",
	  "prefer a certificate with the address in subjectAltName" },
	{ "no_encryption", C, CERT, "the key usage does not allow encryption",
	  "ask the partner for their encryption certificate" },
	{ "no_email_protection", C, CERT, "the extended key usage excludes e-mail",
	  "ask the partner for an S/MIME certificate" },
	{ "weak_key", W, CERT, "the key is too short (RSA < 2048, EC < 256 bits)",
	  "ask the partner for a certificate with a stronger key" },
	{ "weak_signature", W, CERT, "the certificate is signed with MD5 or SHA-1",
	  "ask the partner for a certificate signed with SHA-256 or better" },
	{ "is_ca", C, CERT, "the certificate is a CA certificate, not a person's",
	  "publish the person's own certificate instead" },
	{ "revoked", C, CERT, "the certificate's issuer has revoked it",
	  "do not use it; ask the partner for a new certificate" },
	{ "expiring", W, CERT, "the certificate expires soon",
	  "ask the partner for its successor" },
	{ "expiring_soon", C, CERT, "the certificate expires within the critical window of days",
	  "replace it now: ask the partner for its successor" },
	{ "malformed", C, CERT, "the value is not a (well-formed) certificate",
	  "remove it, or ask the partner for a correctly issued certificate" },
	/* a certificate where it is published, or the entry as a whole */
	{ "address_mismatch", C, CERT, "the certificate is not for the entry's (or recipient's) address",
	  "publish it on the entry for its address, or remove it" },
	{ "duplicate", W, CERT, "the same value is on the entry more than once",
	  "remove one of them" },
	{ "superseded", W, CERT, "a newer valid certificate for the same address is on the entry",
	  "remove the older one" },
	{ "too_large", C, CERT, "the value is over Active Directory's 32 KiB limit",
	  "publish a certificate without extra data" },
	{ "downgrade", C, CERT,
	  "replacing would remove a certificate for the same address that stays valid longer",
	  "keep the longer-valid certificate, or replace it only if the partner asked for that" },
	{ "too_many_values", W, ENTRY, "more than 15 certificates on one entry (Entra ID stops syncing)",
	  "remove old certificates" },
	{ "no_mail_attribute", W, ENTRY, "the address is not in mail: gpgsm and Thunderbird look up mail only",
	  "set mail on the entry" },
	{ "smime_attr_shadows", C, ENTRY,
	  "userSMIMECertificate holds no usable certificate and Outlook reads it first",
	  "clear userSMIMECertificate" },
	{ "first_unusable", C, ENTRY, "the entry's first value is not usable and OWA and gpgsm take the first",
	  "put a usable certificate first, or remove the first value" },
	{ "issuer_not_distributed", C, CERT,
	  "the chain to a trust anchor needs a CA that the directory does not distribute",
	  "publish that CA certificate in the directory, where domain members take their trust "
	  "from (a warning when only a local anchor file provides it)" },
	{ "ambiguous", C, ENTRY, "several entries have the address",
	  "give each entry a distinct address, or remove the duplicate" },
	/* the message a certificate came in */
	{ "bad_signature", C, MSG, "the message's signature does not verify",
	  "never publish a certificate from it" },
	{ "content_missing", C, MSG, "the signed content is not there: the signature cannot be checked",
	  "give the whole signed message, or the content file next to the .p7s" },
	{ "from_mismatch", C, MSG, "the certificate is not for the message's From address",
	  "check with the sender" },
};

#undef W
#undef C
#undef CERT
#undef ENTRY
#undef MSG

/* See problems.h. */
const smp_problem_def *smp_problem_lookup(const char *code)
{
	if (code == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(code, table[i].code) == 0)
			return &table[i];
	return NULL;
}

/* See problems.h. */
size_t smp_problem_count(void)
{
	return sizeof(table) / sizeof(table[0]);
}

/* See problems.h. */
const smp_problem_def *smp_problem_at(size_t i)
{
	return i < smp_problem_count() ? &table[i] : NULL;
}

/* See problems.h. */
smp_severity smp_problem_severity(const char *code)
{
	const smp_problem_def *d;

	if (code == NULL)
		return SMP_SEV_NONE;
	d = smp_problem_lookup(code);
	return d != NULL ? d->severity : SMP_SEV_CRITICAL;
}

/* See problems.h. */
const char *smp_severity_name(smp_severity sev)
{
	switch (sev) {
	case SMP_SEV_WARNING:
		return "warning";
	case SMP_SEV_CRITICAL:
		return "critical";
	default:
		return "none";
	}
}

/* See problems.h. */
const char *smp_scope_name(smp_scope scope)
{
	switch (scope) {
	case SMP_SCOPE_ENTRY:
		return "entry";
	case SMP_SCOPE_MESSAGE:
		return "message";
	default:
		return "certificate";
	}
}

/* See problems.h. */
int smp_problems_vadd(smp_problem **v, size_t *n, const char *code, smp_remedy remedy,
		      const char *fmt, va_list ap)
{
	const smp_problem_def *d;
	smp_problem *nv;
	char *msg = NULL;

	if (v == NULL || n == NULL || code == NULL || fmt == NULL)
		return SMP_ERR_INTERNAL;
	if (vasprintf(&msg, fmt, ap) < 0)
		return SMP_ERR_NOMEM;
	nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (nv == NULL) {
		free(msg);
		return SMP_ERR_NOMEM;
	}
	*v = nv;
	d = smp_problem_lookup(code);
	nv[*n].code = d != NULL ? d->code : code;
	nv[*n].severity = smp_problem_severity(code);
	nv[*n].message = msg;
	nv[*n].remedy = remedy;
	nv[*n].ca_sha256 = NULL;
	nv[*n].ca_file = NULL;
	nv[*n].ca_root = 0;
	(*n)++;
	return 0;
}

/* See problems.h. */
int smp_problem_set_ca(smp_problem *p, const char *sha256, const char *file, int root)
{
	char *s = NULL, *f = NULL;

	if ((sha256 != NULL && (s = strdup(sha256)) == NULL) ||
	    (file != NULL && (f = strdup(file)) == NULL)) {
		free(s);
		return SMP_ERR_NOMEM;
	}
	free(p->ca_sha256);
	free(p->ca_file);
	p->ca_sha256 = s;
	p->ca_file = f;
	p->ca_root = root;
	return 0;
}

/* See problems.h. */
void smp_problems_free(smp_problem *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].message);
		free(v[i].ca_sha256);
		free(v[i].ca_file);
	}
	free(v);
}

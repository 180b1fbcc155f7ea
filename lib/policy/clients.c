/* What each mail client takes from an entry (SPEC §4), and what "usable" means, once. */
#include "smimepub/clients.h"

#include <string.h>

/* See clients.h. */
int smp_cert_usable(const smp_certinfo *ci)
{
	if (ci == NULL)
		return 0;
	if (smp_certinfo_problem(ci, "expired") != NULL ||
	    smp_certinfo_problem(ci, "not_yet_valid") != NULL ||
	    smp_certinfo_problem(ci, "revoked") != NULL ||
	    smp_certinfo_problem(ci, "malformed") != NULL)
		return 0;
	return ci->can_encrypt && ci->email_protection;
}

/* See clients.h. */
int smp_cert_usable_for(const smp_certinfo *ci, const char *address)
{
	if (!smp_cert_usable(ci))
		return 0;
	if (address == NULL)
		return smp_certinfo_problem(ci, "address_mismatch") == NULL;
	return smp_certinfo_has_email(ci, address) > 0;
}

/* See clients.h. */
const char *smp_client_name(smp_client c)
{
	switch (c) {
	case SMP_CLIENT_OUTLOOK:
		return "outlook";
	case SMP_CLIENT_OWA:
		return "owa";
	case SMP_CLIENT_GPGSM:
		return "gpgsm";
	case SMP_CLIENT_THUNDERBIRD:
		return "thunderbird";
	default:
		return "unknown";
	}
}

/* The first of n values usable for address: its index, or n. */
static size_t first_usable(const smp_certinfo *const *v, size_t n, const char *address)
{
	for (size_t i = 0; i < n; i++)
		if (smp_cert_usable_for(v[i], address))
			return i;
	return n;
}

/*
 * Why a client cannot encrypt to address with ci (NULL: it can). The value's own unusable
 * state first, then whom it is for: an expired certificate for someone else is "expired".
 */
static const char *why_not(const smp_certinfo *ci, const char *address)
{
	static const char *const unusable[] = { "expired", "not_yet_valid", "revoked",
						"malformed" };

	if (ci == NULL)
		return "malformed";
	for (size_t i = 0; i < sizeof(unusable) / sizeof(unusable[0]); i++)
		if (smp_certinfo_problem(ci, unusable[i]) != NULL)
			return unusable[i];
	if (!ci->can_encrypt)
		return "no_encryption";
	if (!ci->email_protection)
		return "no_email_protection";
	if (!smp_cert_usable_for(ci, address))
		return "address_mismatch";
	return NULL;
}

static void take(smp_client_pick *p, smp_cert_attr attr, size_t index, size_t n_taken,
		 const char *why)
{
	p->attr = attr;
	p->index = index;
	p->n_taken = n_taken;
	p->encrypts = why == NULL;
	p->why = why;
}

static void take_none(smp_client_pick *p, const char *why)
{
	memset(p, 0, sizeof(*p));
	p->why = why;
}

/* See clients.h. */
smp_severity smp_client_why_severity(const char *why)
{
	if (why == NULL)
		return SMP_SEV_NONE;
	if (strcmp(why, SMP_CLIENT_WHY_NOT_IN_MAIL) == 0 || strcmp(why, SMP_CLIENT_WHY_EC_KEY) == 0)
		return SMP_SEV_WARNING;
	return SMP_SEV_CRITICAL;
}

/* gpgsm 2.2 encrypts to RSA keys only (TESTDIRS: it refuses EC P-256 recipients). */
static const char *gpgsm_why(const smp_certinfo *ci, const char *address)
{
	const char *why = why_not(ci, address);

	if (why == NULL && strcmp(ci->key_type, "RSA") != 0)
		why = SMP_CLIENT_WHY_EC_KEY;
	return why;
}

/* Thunderbird, having imported every value: why none of them works. */
static const char *thunderbird_why(const smp_certinfo *const *v, size_t n, const char *address)
{
	for (size_t i = 0; i < n; i++)
		if (smp_cert_usable(v[i]))
			return "address_mismatch";  /* usable, so only for someone else */
	return why_not(v[0], address);
}

/* See clients.h. */
void smp_clients_pick(smp_client_pick picks[SMP_CLIENT_COUNT], const smp_client_input *in)
{
	size_t i;

	memset(picks, 0, SMP_CLIENT_COUNT * sizeof(*picks));
	/* Outlook: userSMIMECertificate, when set, is all it reads */
	if (in->n_smime > 0) {
		i = first_usable(in->smime, in->n_smime, in->address);
		if (i < in->n_smime)
			take(&picks[SMP_CLIENT_OUTLOOK], SMP_ATTR_SMIME, i, 1, NULL);
		else
			take(&picks[SMP_CLIENT_OUTLOOK], SMP_ATTR_SMIME, 0, 1,
			     why_not(in->smime[0], in->address));
	} else if ((i = first_usable(in->certs, in->n_certs, in->address)) < in->n_certs) {
		take(&picks[SMP_CLIENT_OUTLOOK], SMP_ATTR_CERT, i, 1, NULL);
	} else {
		take_none(&picks[SMP_CLIENT_OUTLOOK], in->n_certs == 0 ? SMP_CLIENT_WHY_NO_CERT
								       : SMP_CLIENT_WHY_NONE_USABLE);
	}
	if (in->n_certs == 0) {
		take_none(&picks[SMP_CLIENT_OWA], SMP_CLIENT_WHY_NO_CERT);
		take_none(&picks[SMP_CLIENT_GPGSM], in->in_mail ? SMP_CLIENT_WHY_NO_CERT
							      : SMP_CLIENT_WHY_NOT_IN_MAIL);
		take_none(&picks[SMP_CLIENT_THUNDERBIRD], in->in_mail ? SMP_CLIENT_WHY_NO_CERT
								    : SMP_CLIENT_WHY_NOT_IN_MAIL);
		return;
	}
	/* OWA: the first value, whatever it is */
	take(&picks[SMP_CLIENT_OWA], SMP_ATTR_CERT, 0, 1, why_not(in->certs[0], in->address));
	if (!in->in_mail) {
		take_none(&picks[SMP_CLIENT_GPGSM], SMP_CLIENT_WHY_NOT_IN_MAIL);
		take_none(&picks[SMP_CLIENT_THUNDERBIRD], SMP_CLIENT_WHY_NOT_IN_MAIL);
		return;
	}
	take(&picks[SMP_CLIENT_GPGSM], SMP_ATTR_CERT, 0, 1, gpgsm_why(in->certs[0], in->address));
	i = first_usable(in->certs, in->n_certs, in->address);
	take(&picks[SMP_CLIENT_THUNDERBIRD], SMP_ATTR_CERT, i < in->n_certs ? i : 0, in->n_certs,
	     i < in->n_certs ? NULL : thunderbird_why(in->certs, in->n_certs, in->address));
}

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
	return smp_certinfo_has_email(ci, address);
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

static void take(smp_client_pick *p, smp_cert_attr attr, size_t index, size_t n_taken,
		 int encrypts)
{
	p->attr = attr;
	p->index = index;
	p->n_taken = n_taken;
	p->encrypts = encrypts;
}

/* See clients.h. */
void smp_clients_pick(smp_client_pick picks[SMP_CLIENT_COUNT], const smp_client_input *in)
{
	size_t i;

	memset(picks, 0, SMP_CLIENT_COUNT * sizeof(*picks));
	/* Outlook: userSMIMECertificate, when set, is all it reads */
	if (in->n_smime > 0) {
		if ((i = first_usable(in->smime, in->n_smime, in->address)) < in->n_smime)
			take(&picks[SMP_CLIENT_OUTLOOK], SMP_ATTR_SMIME, i, 1, 1);
	} else if ((i = first_usable(in->certs, in->n_certs, in->address)) < in->n_certs) {
		take(&picks[SMP_CLIENT_OUTLOOK], SMP_ATTR_CERT, i, 1, 1);
	}
	if (in->n_certs == 0)
		return;
	/* OWA: the first value, whatever it is */
	take(&picks[SMP_CLIENT_OWA], SMP_ATTR_CERT, 0, 1,
	     smp_cert_usable_for(in->certs[0], in->address));
	if (!in->in_mail)
		return;
	take(&picks[SMP_CLIENT_GPGSM], SMP_ATTR_CERT, 0, 1,
	     smp_cert_usable_for(in->certs[0], in->address));
	i = first_usable(in->certs, in->n_certs, in->address);
	take(&picks[SMP_CLIENT_THUNDERBIRD], SMP_ATTR_CERT, i < in->n_certs ? i : 0, in->n_certs,
	     i < in->n_certs);
}

/*
 * libFuzzer target for certificate intake: smp_bundle_read on the input, then smp_cert_analyze of
 * every leaf (chain building, addresses, purposes) with a trust context that has no anchors;
 * each address's Unicode form (smp_address_unicode) must normalise back to the address, and the
 * subject as a DN (smp_name_to_dn), when it has one, must be a DN libldap reads.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ldap.h>

#include "smimepub/cert.h"
#include "smimepub/clients.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static smp_trust *trust;
	smp_error err = SMP_ERROR_INIT;
	smp_bundle *b = NULL;

	if (trust == NULL) {
		smp_trust_options opts = SMP_TRUST_OPTIONS_INIT;

		opts.at = 1780272000; /* 2026-06-01T00:00:00Z */
		opts.use_system_store = 0;
		if (smp_trust_new(&trust, &opts, &err) != 0)
			return 0;
	}
	if (smp_bundle_read(&b, data, size, &err) != 0)
		return 0;
	for (size_t i = 0; i < smp_bundle_leaf_count(b); i++) {
		smp_certinfo *ci = NULL;

		char *dn = NULL;
		LDAPDN ldn = NULL;

		if (smp_name_to_dn(&dn, X509_get_subject_name(smp_bundle_leaf(b, i)), &err) == 0 &&
		    dn != NULL) {
			if (ldap_str2dn(dn, &ldn, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS)
				abort();
			ldap_dnfree(ldn);
		}
		free(dn);
		if (smp_cert_analyze(&ci, smp_bundle_leaf(b, i), smp_bundle_all(b), trust, &err) == 0) {
			(void)smp_cert_usable(ci);
			for (size_t k = 0; k < ci->n_emails; k++) {
				char *u = NULL, *back = NULL;

				(void)smp_certinfo_has_email(ci, ci->emails[k]);
				/* the Unicode form a search also asks for is the same mailbox */
				if (smp_address_unicode(&u, ci->emails[k], &err) == 0 && u != NULL &&
				    (smp_address_normalize(&back, u, strlen(u), &err) != 0 ||
				     strcmp(back, ci->emails[k]) != 0))
					abort();
				free(back);
				free(u);
			}
			smp_certinfo_free(ci);
		}
	}
	smp_bundle_free(b);
	return 0;
}

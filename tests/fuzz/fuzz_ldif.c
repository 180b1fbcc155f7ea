/* Fuzz target: the LDIF reader over memory (smp_ldif_walk_mem), touching every value it hands out. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "smimepub/dir.h"
#include "smimepub/ldif_in.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int touch(const smp_entry *e, void *ctx)
{
	size_t *sum = ctx;

	*sum += strlen(e->dn) + (e->cn ? strlen(e->cn) : 0);
	for (size_t i = 0; i < e->n_mail; i++)
		*sum += strlen(e->mail[i]);
	for (size_t i = 0; i < e->n_proxy; i++)
		*sum += strlen(e->proxy[i]);
	for (size_t i = 0; i < e->n_certs; i++) {
		*sum += strlen(e->cert_attrs[i]);
		if (e->certs[i].bv_len > 0)
			*sum += (unsigned char)e->certs[i].bv_val[e->certs[i].bv_len - 1];
	}
	for (size_t i = 0; i < e->n_smime; i++)
		if (e->smime[i].bv_len > 0)
			*sum += (unsigned char)e->smime[i].bv_val[0];
	(void)smp_entry_has_address(e, "alice@partner.example");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	smp_error err = SMP_ERROR_INIT;
	size_t sum = 0;

	(void)smp_ldif_walk_mem(data, size, touch, &sum, &err);
	return 0;
}

/* Directory entries as the library holds them (dir.h): freeing and address matching. */
#include "smimepub/dir.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smimepub/cert.h"

static void free_strings(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void free_values(struct berval *v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i].bv_val);
	free(v);
}

/*
 * Frees an entry allocated with malloc and everything it points to (every string and value
 * buffer is malloc'd too). NULL is allowed.
 */
void smp_entry_free(smp_entry *e)
{
	if (e == NULL)
		return;
	free(e->dn);
	free(e->cn);
	free_strings(e->mail, e->n_mail);
	free_strings(e->proxy, e->n_proxy);
	free_values(e->certs, e->n_certs);
	free_strings(e->cert_attrs, e->n_certs);
	free_values(e->smime, e->n_smime);
	free(e);
}

/* Frees v[0..n) with smp_entry_free, then v. */
void smp_entries_free(smp_entry **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		smp_entry_free(v[i]);
	free(v);
}

static int address_matches(const char *value, const char *addr)
{
	char *norm = NULL;
	int same;

	if (smp_address_normalize(&norm, value, strlen(value), NULL) != 0)
		return 0;
	same = smp_address_equal(norm, addr);
	free(norm);
	return same;
}

/*
 * 2 when one of the entry's mail values is addr, 1 when only an smtp: proxyAddresses value
 * is (prefix case-insensitive, primary SMTP: or secondary smtp:), 0 otherwise. Both sides are
 * compared normalised (smp_address_normalize), so a value that is not a well-formed address
 * never matches.
 */
int smp_entry_has_address(const smp_entry *e, const char *addr)
{
	char *norm = NULL;
	int found = 0;

	if (e == NULL || addr == NULL)
		return 0;
	if (smp_address_normalize(&norm, addr, strlen(addr), NULL) != 0)
		return 0;
	for (size_t i = 0; i < e->n_mail && found == 0; i++)
		if (e->mail[i] != NULL && address_matches(e->mail[i], norm))
			found = 2;
	for (size_t i = 0; i < e->n_proxy && found == 0; i++)
		if (e->proxy[i] != NULL && strncasecmp(e->proxy[i], "smtp:", 5) == 0 &&
		    address_matches(e->proxy[i] + 5, norm))
			found = 1;
	free(norm);
	return found;
}

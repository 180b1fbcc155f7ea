/*
 * Fuzz target: DNs. The bytes are read two ways:
 *   - as a DN string (up to the first NUL), as an export or a server hands it out: its
 *     comparison key (smp_dir_rdn_keys joined, what the LDIF backend indexes and looks up by)
 *     must be a fixed point -- the key of the key is the key, else one entry would index under
 *     one key and be looked up under another (when libldap reads the key back at all) -- and
 *     smp_dn_display must name the same entry (the same key), or be the DN itself;
 *   - as a DER Name (a certificate's subject): smp_name_to_dn either refuses it or gives a DN
 *     libldap reads, whose key is again a fixed point and whose display names it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldap.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "smimepub/cert.h"
#include "smimepub/dir.h"
#include "dir/backend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The DN's key (malloc'd), or NULL when it is not a DN. */
static char *key_of(const char *dn)
{
	char **rdns = NULL, *key;
	size_t n = 0;

	if (smp_dir_rdn_keys(&rdns, &n, dn) != 0)
		return NULL;
	key = smp_dir_rdns_join(rdns, n);
	smp_dir_rdns_free(rdns, n);
	if (key == NULL)
		abort();  /* out of memory on a few KiB */
	return key;
}

static void check_dn(const char *dn)
{
	char *key = key_of(dn), *again, *shown, *shown_key;

	shown = smp_dn_display(dn);
	if (shown == NULL)
		abort();
	if (key == NULL) {
		/* not a DN: shown as it is */
		if (strcmp(shown, dn) != 0)
			abort();
		free(shown);
		return;
	}
	/*
	 * libldap writes some values it does not read back (an AVA of "#" and no hex pairs,
	 * accepted before a '+' but not at the end of the string, where sorting may move it):
	 * a key is only compared, never parsed again, so only a key that parses must be stable
	 */
	again = key_of(key);
	if (again != NULL && strcasecmp(again, key) != 0)
		abort();
	shown_key = key_of(shown);
	if (shown_key == NULL || strcasecmp(shown_key, key) != 0)
		abort();
	free(shown_key);
	free(again);
	free(shown);
	free(key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	smp_error err = SMP_ERROR_INIT;
	const unsigned char *p = data;
	X509_NAME *name;
	char *text;

	/* not strndup: it may read up to size bytes looking for a NUL the input need not have
	   (ASan's strict_string_checks, as the suite runs, reports that) */
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	check_dn(text);
	free(text);

	name = d2i_X509_NAME(NULL, &p, (long)size);
	if (name != NULL) {
		char *dn = NULL;

		if (smp_name_to_dn(&dn, name, &err) == 0 && dn != NULL) {
			LDAPDN ldn = NULL;

			if (ldap_str2dn(dn, &ldn, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS)
				abort();
			ldap_dnfree(ldn);
			check_dn(dn);
		}
		free(dn);
		X509_NAME_free(name);
	}
	/*
	 * d2i leaves its complaints in OpenSSL's error queue, freed only when later ones push
	 * them out: an input whose allocations another input frees makes libFuzzer scan the
	 * heap for leaks after every run, which slowed the fuzzing down tenfold
	 */
	ERR_clear_error();
	return 0;
}

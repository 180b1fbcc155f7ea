/*
 * smimepub: DNs compared as a directory compares them, for the LDIF-export backend (which
 * has no server to ask whether two DNs name one entry).
 *
 * A DN reaches an export's index in whatever spelling the exporting tool wrote
 * ("CN=Smith\, John", "cn=Smith\2C John", base64 UTF-8) and a lookup in another (the one
 * smp_name_to_dn makes of a certificate's subject): both are parsed by libldap and written
 * back in one canonical form, so spellings of one DN give one key. What a server would also
 * treat as the same and the key does too: escapes and spacing (libldap), the attribute
 * type's case, aliases and dotted OID (intake/dn.h), the order of a multi-valued RDN's AVAs
 * (an RDN is a set), the ASCII case of values (keys are compared with strcasecmp: cn, ou, dc
 * and the other naming attributes are directory strings, matched case-insensitively by both
 * AD and OpenLDAP). What it does not: non-ASCII case folding and Unicode normalisation,
 * which need the server's tables.
 */
#include "backend.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldap.h>

#include "intake/dn.h"

/* Orders two byte strings ASCII case-insensitively, shorter first on a common prefix. */
static int bv_casecmp(const struct berval *a, const struct berval *b)
{
	size_t n = a->bv_len < b->bv_len ? a->bv_len : b->bv_len;
	int c = n > 0 ? strncasecmp(a->bv_val, b->bv_val, n) : 0;

	if (c != 0 || a->bv_len == b->bv_len)
		return c;
	return a->bv_len < b->bv_len ? -1 : 1;
}

/*
 * Orders AVAs by type key, then value, case-insensitively: RDNs equal but for case sort
 * alike, so their keys compare equal with strcasecmp. Ties fall to the exact bytes.
 */
static int ava_cmp(const void *a, const void *b)
{
	const LDAPAVA *x = *(LDAPAVA *const *)a, *y = *(LDAPAVA *const *)b;
	int c;

	if ((c = bv_casecmp(&x->la_attr, &y->la_attr)) != 0 ||
	    (c = bv_casecmp(&x->la_value, &y->la_value)) != 0)
		return c;
	return x->la_value.bv_len > 0 ? memcmp(x->la_value.bv_val, y->la_value.bv_val,
					      x->la_value.bv_len) : 0;
}

/* The canonical string of one RDN (see the top of the file), from libldap, or NULL. */
static char *rdn_key(LDAPRDN rdn)
{
	size_t n = 0;
	LDAPAVA *copies = NULL, **v = NULL;
	char *s = NULL;

	while (rdn[n] != NULL)
		n++;
	if ((copies = calloc(n, sizeof(*copies))) == NULL ||
	    (v = calloc(n + 1, sizeof(*v))) == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const char *key = dn_attr_key(rdn[i]->la_attr.bv_val, rdn[i]->la_attr.bv_len);

		copies[i] = *rdn[i];
		if (key != NULL) {
			copies[i].la_attr.bv_val = (char *)key;
			copies[i].la_attr.bv_len = strlen(key);
		}
		v[i] = &copies[i];
	}
	qsort(v, n, sizeof(*v), ava_cmp);
	if (ldap_rdn2str(v, &s, LDAP_DN_FORMAT_LDAPV3 | LDAP_DN_PRETTY) != LDAP_SUCCESS)
		s = NULL;
out:
	free(v);
	free(copies);
	return s;
}

/* See backend.h. */
int smp_dir_rdn_keys(char ***out, size_t *n, const char *dn)
{
	return smp_dir_rdns_map(out, n, dn, rdn_key);
}

/* ---- display -------------------------------------------------------------------------------- */

/* One RDN in the form a person reads: "\," and "\+" where libldap can, else its hex pairs. */
static char *rdn_display(LDAPRDN rdn)
{
	char *s = NULL, *out;

	/*
	 * libldap's LDAPv3 writer escapes specials as hex pairs ("Smith\2C John", as slapd
	 * returns DNs); its LDAPv2 writer with PRETTY escapes them with a backslash ("Smith\,
	 * John", as AD returns them), which is RFC 4514 too, but cannot write non-ASCII or control
	 * characters: those RDNs keep the LDAPv3 form (UTF-8 as is with PRETTY).
	 */
	if (ldap_rdn2str(rdn, &s, LDAP_DN_FORMAT_LDAPV2 | LDAP_DN_PRETTY) != LDAP_SUCCESS ||
	    s == NULL) {
		s = NULL;
		if (ldap_rdn2str(rdn, &s, LDAP_DN_FORMAT_LDAPV3 | LDAP_DN_PRETTY) != LDAP_SUCCESS)
			return NULL;
	}
	out = s != NULL ? strdup(s) : NULL;
	ldap_memfree(s);
	return out;
}

char *smp_dn_display(const char *dn)
{
	LDAPDN parsed = NULL, back = NULL;
	char **rdns = NULL, *out = NULL;
	size_t n = 0;
	int same = 0;

	if (dn == NULL)
		return NULL;
	if (smp_dir_rdns_map(&rdns, &n, dn, rdn_display) != 0 ||
	    (out = smp_dir_rdns_join(rdns, n)) == NULL)
		goto fallback;
	/* shown only when it names the same entry: else the directory's own spelling */
	if (ldap_str2dn(dn, &parsed, LDAP_DN_FORMAT_LDAP) == LDAP_SUCCESS &&
	    ldap_str2dn(out, &back, LDAP_DN_FORMAT_LDAP) == LDAP_SUCCESS) {
		char *k1 = NULL, *k2 = NULL;

		if (ldap_dn2str(parsed, &k1, LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS &&
		    ldap_dn2str(back, &k2, LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS)
			same = k1 != NULL && k2 != NULL && strcmp(k1, k2) == 0;
		ldap_memfree(k1);
		ldap_memfree(k2);
	}
fallback:
	if (parsed != NULL)
		ldap_dnfree(parsed);
	if (back != NULL)
		ldap_dnfree(back);
	smp_dir_rdns_free(rdns, n);
	if (same)
		return out;
	free(out);
	return strdup(dn);
}

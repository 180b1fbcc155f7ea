/*
 * A certificate's subject as a directory DN (SPEC §4: certutil's fallback when no entry has
 * the certificate's address), and the attribute types DNs are compared by.
 *
 * The DN is built from the decoded X509_NAME, never from a display text: OpenSSL's RFC 2253
 * text names types as OpenSSL does (emailAddress, and its own short names for types the
 * directories spell otherwise), and once escaped for display it no longer round-trips. Here
 * each value is the attribute's UTF-8 text, the structure (RDN order, multi-valued RDNs) is
 * the DER's, and libldap writes the string: no escaping by hand.
 */
#include "smimepub/cert.h"
#include "intake/dn.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldap.h>
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>

/*
 * Attribute types that may name entries, as both Active Directory's schema and OpenLDAP's
 * core schema name them: RFC 4514's keywords (upper case, as AD writes its DNs), then the
 * other types both schemas define under one name. A type with no name here is written in
 * dotted-decimal form (RFC 4514 §2.3): a directory that knows the type by its OID accepts it,
 * one that does not answers that no such entry exists, which is the truth. emailAddress is
 * such a type: OpenLDAP calls it email, AD's schema lacks it, and the one name it could get
 * would be right for neither. aliases are other names a DN string may use for the type.
 */
struct dn_type {
	const char *oid;
	const char *name;        /* what smp_name_to_dn writes; NULL: the OID */
	const char *key;         /* dn_attr_key: name lower-cased, or the OID */
	const char *aliases[4];
};

static const struct dn_type dn_types[] = {
	{ "2.5.4.3", "CN", "cn", { "commonName" } },
	{ "2.5.4.7", "L", "l", { "localityName" } },
	{ "2.5.4.8", "ST", "st", { "stateOrProvinceName" } },
	{ "2.5.4.10", "O", "o", { "organizationName" } },
	{ "2.5.4.11", "OU", "ou", { "organizationalUnitName" } },
	{ "2.5.4.6", "C", "c", { "countryName" } },
	{ "2.5.4.9", "STREET", "street", { "streetAddress" } },
	{ "0.9.2342.19200300.100.1.25", "DC", "dc", { "domainComponent" } },
	{ "0.9.2342.19200300.100.1.1", "UID", "uid", { "userid" } },
	{ "2.5.4.4", "sn", "sn", { "surname" } },
	{ "2.5.4.5", "serialNumber", "serialnumber", { NULL } },
	{ "2.5.4.12", "title", "title", { NULL } },
	{ "2.5.4.13", "description", "description", { NULL } },
	{ "2.5.4.15", "businessCategory", "businesscategory", { NULL } },
	{ "2.5.4.17", "postalCode", "postalcode", { NULL } },
	{ "2.5.4.18", "postOfficeBox", "postofficebox", { NULL } },
	{ "2.5.4.42", "givenName", "givenname", { "gn" } },
	{ "2.5.4.43", "initials", "initials", { NULL } },
	{ "2.5.4.44", "generationQualifier", "generationqualifier", { NULL } },
	{ "1.2.840.113549.1.9.1", NULL, "1.2.840.113549.1.9.1",
	  { "email", "emailAddress", "pkcs9email" } },
};

#define N_DN_TYPES (sizeof(dn_types) / sizeof(dn_types[0]))

static int same(const char *a, size_t len, const char *b)
{
	return b != NULL && strlen(b) == len && strncasecmp(a, b, len) == 0;
}

/* See intake/dn.h. */
const char *dn_attr_key(const char *type, size_t len)
{
	/* RFC 4512 allows an "OID." prefix before a dotted OID; libldap keeps it */
	if (len > 4 && strncasecmp(type, "oid.", 4) == 0) {
		type += 4;
		len -= 4;
	}
	for (size_t i = 0; i < N_DN_TYPES; i++) {
		const struct dn_type *t = &dn_types[i];

		if (same(type, len, t->oid) || same(type, len, t->name))
			return t->key;
		for (size_t k = 0; k < sizeof(t->aliases) / sizeof(t->aliases[0]); k++)
			if (same(type, len, t->aliases[k]))
				return t->key;
	}
	return NULL;
}

/* What smp_name_to_dn calls the type with dotted OID oid: a table name or oid itself. */
static const char *type_name(const char *oid)
{
	for (size_t i = 0; i < N_DN_TYPES; i++)
		if (strcmp(dn_types[i].oid, oid) == 0)
			return dn_types[i].name != NULL ? dn_types[i].name : oid;
	return oid;
}

/* Dotted OIDs longer than this are refused (no attribute type in use comes near it). */
#define OID_MAX 128

int smp_name_to_dn(char **out, const X509_NAME *name, smp_error *err)
{
	int n = name != NULL ? X509_NAME_entry_count(name) : 0;
	LDAPAVA *avas = NULL, **slots = NULL;
	LDAPRDN *rdns = NULL;
	unsigned char **values = NULL;
	char (*oids)[OID_MAX] = NULL;
	char *text = NULL;
	size_t nrdn = 0, at = 0, r_at = 0;
	int r = SMP_ERR_NOMEM, prev = -1;

	*out = NULL;
	if (n <= 0)
		return 0;  /* an empty subject names no entry */
	for (int i = 0; i < n; i++) {
		int set = X509_NAME_ENTRY_set(X509_NAME_get_entry(name, i));

		if (set != prev)
			nrdn++;
		prev = set;
	}
	/* each RDN's AVAs are a NULL-terminated run of slots: n AVAs, nrdn terminators */
	if ((avas = calloc((size_t)n, sizeof(*avas))) == NULL ||
	    (slots = calloc((size_t)n + nrdn, sizeof(*slots))) == NULL ||
	    (rdns = calloc(nrdn + 1, sizeof(*rdns))) == NULL ||
	    (values = calloc((size_t)n, sizeof(*values))) == NULL ||
	    (oids = calloc((size_t)n, sizeof(*oids))) == NULL) {
		smp_error_set(err, r, "out of memory");
		goto out;
	}
	prev = -1;
	for (int i = 0; i < n; i++) {
		const X509_NAME_ENTRY *ne = X509_NAME_get_entry(name, i);
		const char *type;
		int set = X509_NAME_ENTRY_set(ne), len, oid_len;

		if (set != prev) {
			/* a new RDN: the DER goes from the root down, an LDAP DN from the leaf up */
			if (prev != -1)
				at++;  /* the previous run's terminator */
			rdns[nrdn - 1 - r_at++] = &slots[at];
			prev = set;
		}
		oid_len = OBJ_obj2txt(oids[i], OID_MAX, X509_NAME_ENTRY_get_object(ne), 1);
		if (oid_len <= 0 || oid_len >= OID_MAX) {
			r = smp_error_openssl(err, SMP_ERR_BADINPUT, "the subject has an attribute "
					      "type with no usable OID");
			goto out;
		}
		type = type_name(oids[i]);
		len = ASN1_STRING_to_UTF8(&values[i], X509_NAME_ENTRY_get_data(ne));
		if (len < 0) {
			/* not a string type, or bytes its own encoding forbids: no DN can hold it */
			r = smp_error_openssl(err, SMP_ERR_BADINPUT, "the subject's %s value has no "
					      "UTF-8 text", type);
			goto out;
		}
		avas[i].la_attr.bv_val = (char *)type;
		avas[i].la_attr.bv_len = strlen(type);
		avas[i].la_value.bv_val = (char *)values[i];
		avas[i].la_value.bv_len = (ber_len_t)len;
		avas[i].la_flags = LDAP_AVA_STRING;
		slots[at++] = &avas[i];
	}
	/* LDAPv3 as libldap writes it (RFC 4514); PRETTY keeps UTF-8 as it is, not as \XX */
	if (ldap_dn2str(rdns, &text, LDAP_DN_FORMAT_LDAPV3 | LDAP_DN_PRETTY) != LDAP_SUCCESS ||
	    text == NULL) {
		r = smp_error_set(err, SMP_ERR_BADINPUT, "the subject cannot be written as a DN");
		goto out;
	}
	if ((*out = strdup(text)) == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	r = 0;
out:
	ldap_memfree(text);
	for (int i = 0; values != NULL && i < n; i++)
		OPENSSL_free(values[i]);
	free(values);
	free(oids);
	free(rdns);
	free(slots);
	free(avas);
	ERR_clear_error();
	return r;
}

/*
 * smimepub: the pure decisions of `ca publish` (SPEC §6, ca.h): what a CA certificate is,
 * what its directory entry is called and what a publish writes. No I/O.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldap.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "smimepub/ca.h"

const char *smp_ca_kind_name(smp_ca_kind kind)
{
	switch (kind) {
	case SMP_CA_ROOT:
		return "root";
	case SMP_CA_INTERMEDIATE:
		return "intermediate";
	case SMP_CA_CROSS:
		return "cross";
	default:
		return "not_ca";
	}
}

/* Self-issued and its signature verifies with its own key. */
static int self_signed(X509 *x)
{
	return X509_self_signed(x, 1) == 1;
}

smp_ca_kind smp_ca_classify(X509 *x, STACK_OF(X509) *known)
{
	smp_ca_kind kind = SMP_CA_NOT_CA;
	int ca = X509_check_ca(x);

	/* 1: basicConstraints cA; 3: an X.509 v1 self-signed certificate, as old roots are.
	   keyUsage keyCertSign alone (4) or Netscape's type (5) are no CA for clients that
	   follow RFC 5280 */
	if (ca == 1 || (ca == 3 && self_signed(x))) {
		kind = self_signed(x) ? SMP_CA_ROOT : SMP_CA_INTERMEDIATE;
		for (int i = 0; kind == SMP_CA_INTERMEDIATE && known != NULL &&
				i < sk_X509_num(known); i++) {
			X509 *y = sk_X509_value(known, i);

			if (y != x && X509_NAME_cmp(X509_get_subject_name(x),
						    X509_get_subject_name(y)) == 0 &&
			    X509_get0_pubkey(x) != NULL && X509_get0_pubkey(y) != NULL &&
			    EVP_PKEY_eq(X509_get0_pubkey(x), X509_get0_pubkey(y)) == 1 &&
			    self_signed(y))
				kind = SMP_CA_CROSS;
		}
	}
	ERR_clear_error();
	return kind;
}

/*
 * MS-WCCE 3.1.1.4.1.1.2: the characters a sanitised name may not hold as they are. The
 * rule's text (3.1.1.4.1.1 and the example of 1.3.2.5, "LongCAName(WithSpeci@#$%^Characters"
 * -> "LongCAName!0028WithSpeci@!0023$!0025!005eCharacters": '@' and '$' stay) comes from
 * learn.microsoft.com/en-us/openspecs/windows_protocols/ms-wcce/bb738507-... and
 * .../aa64b85e-...; the table of 3.1.1.4.1.1.2 lists these ASCII characters and every
 * character above 0x7F. Control characters, which no CA name should hold, are escaped too.
 */
static int disallowed(uint32_t c)
{
	return c < 0x20 || c > 0x7e || strchr("!\"#%&'()*+,/:;<=>?\\^`{|}~", (int)c) != NULL;
}

/* The next code point of the UTF-8 string at *p (advanced), or UINT32_MAX when malformed. */
static uint32_t utf8_next(const unsigned char **p)
{
	const unsigned char *s = *p;
	uint32_t c;
	int n;

	if (s[0] < 0x80) {
		*p = s + 1;
		return s[0];
	}
	if ((s[0] & 0xe0) == 0xc0)
		c = s[0] & 0x1f, n = 1;
	else if ((s[0] & 0xf0) == 0xe0)
		c = s[0] & 0x0f, n = 2;
	else if ((s[0] & 0xf8) == 0xf0)
		c = s[0] & 0x07, n = 3;
	else
		return UINT32_MAX;
	for (int i = 1; i <= n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return UINT32_MAX;
		c = (c << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates and code points past Unicode are not UTF-8 */
	if ((n == 1 && c < 0x80) || (n == 2 && c < 0x800) || (n == 3 && c < 0x10000) ||
	    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return UINT32_MAX;
	*p = s + n + 1;
	return c;
}

/* MS-WCCE's short names are at most this long before "-hhhhh" (3.1.1.4.1.1). */
#define WCCE_SHORT_MAX 51

int smp_ca_sanitised_name(char **out, const char *name)
{
	const unsigned char *p = (const unsigned char *)name;
	size_t len = 0, cut, cap;
	char *s, *r;
	unsigned hash = 0;

	*out = NULL;
	if (name == NULL || name[0] == '\0')
		return SMP_ERR_BADINPUT;
	/* at most 12 characters ("!d83d!de00", a surrogate pair) for each input byte */
	cap = strlen(name) * 12 + 1;
	if ((s = malloc(cap)) == NULL)
		return SMP_ERR_NOMEM;
	while (*p != '\0') {
		uint32_t c = utf8_next(&p);

		if (c == UINT32_MAX) {
			free(s);
			return SMP_ERR_BADINPUT;
		}
		if (!disallowed(c)) {
			s[len++] = (char)c;
		} else if (c < 0x10000) {
			len += (size_t)snprintf(s + len, cap - len, "!%04x", (unsigned)c);
		} else {
			/* "the 16-bit character": a code point past the BMP is two UTF-16 units */
			c -= 0x10000;
			len += (size_t)snprintf(s + len, cap - len, "!%04x!%04x",
					       0xd800u | (c >> 10),
					       0xdc00u | (c & 0x3ff));
		}
	}
	s[len] = '\0';
	if (len <= WCCE_SHORT_MAX) {
		*out = s;
		return 0;
	}
	/* cut at 51, never inside an escape: '!' only ever starts one, since a literal '!' is
	   itself escaped */
	cut = WCCE_SHORT_MAX;
	for (size_t i = 0; i < WCCE_SHORT_MAX; i++)
		if (s[i] == '!' && i + 5 > WCCE_SHORT_MAX)
			cut = i;
	/* 3.1.1.4.1.1.1: rotate a 16-bit value left by one and add each character cut off */
	for (size_t i = cut; i < len; i++)
		hash = ((((hash << 1) | ((hash & 0x8000) ? 1u : 0u)) + (unsigned char)s[i]) &
			0xffffu);
	if (asprintf(&r, "%.*s-%05u", (int)cut, s, hash) < 0) {
		free(s);
		return SMP_ERR_NOMEM;
	}
	free(s);
	*out = r;
	return 0;
}

int smp_ca_common_name(char **out, X509 *x)
{
	const X509_NAME *name = X509_get_subject_name(x);
	const X509_NAME_ENTRY *ne = NULL;
	unsigned char *utf8 = NULL;
	int i = -1, last = -1, n;

	*out = NULL;
	while ((i = X509_NAME_get_index_by_NID(name, NID_commonName, i)) >= 0)
		last = i;
	if (last < 0 && X509_NAME_entry_count(name) > 0)
		last = X509_NAME_entry_count(name) - 1;
	if (last < 0 || (ne = X509_NAME_get_entry(name, last)) == NULL)
		return SMP_ERR_BADINPUT;
	n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(ne));
	if (n <= 0 || memchr(utf8, '\0', (size_t)n) != NULL) {
		OPENSSL_free(utf8);
		ERR_clear_error();
		return n < 0 ? SMP_ERR_NOMEM : SMP_ERR_BADINPUT;
	}
	*out = strndup((const char *)utf8, (size_t)n);
	OPENSSL_free(utf8);
	return *out != NULL ? 0 : SMP_ERR_NOMEM;
}

void smp_ca_plan_release(smp_ca_plan *plan)
{
	if (plan == NULL)
		return;
	free(plan->dn);
	free(plan->name);
	memset(plan, 0, sizeof(*plan));
}

/* "<type>=<value>,<parent>", the RDN escaped per RFC 4514 by libldap (UTF-8 kept). */
static char *rdn_under(const char *type, const char *value, const char *parent)
{
	LDAPAVA ava;
	LDAPAVA *rdn[2] = { &ava, NULL };
	char *rdnstr = NULL, *out = NULL;

	memset(&ava, 0, sizeof(ava));
	ava.la_attr.bv_val = (char *)type;
	ava.la_attr.bv_len = strlen(type);
	ava.la_value.bv_val = (char *)value;
	ava.la_value.bv_len = strlen(value);
	ava.la_flags = LDAP_AVA_STRING;
	if (ldap_rdn2str(rdn, &rdnstr, LDAP_DN_FORMAT_LDAPV3 | LDAP_DN_PRETTY) == LDAP_SUCCESS &&
	    rdnstr != NULL && asprintf(&out, "%s,%s", rdnstr, parent) < 0)
		out = NULL;
	ldap_memfree(rdnstr);
	return out;
}

int smp_ca_plan_publish(smp_ca_plan *plan, const smp_profile *p, const smp_ca_containers *c,
			X509 *x, const struct berval *der, smp_ca_kind kind, int exists,
			const struct berval *values, size_t n, smp_error *err)
{
	char *cn = NULL;
	int r;

	memset(plan, 0, sizeof(*plan));
	if (kind == SMP_CA_NOT_CA)
		return smp_error_set(err, SMP_ERR_BADINPUT, "not a CA certificate");
	if ((r = smp_ca_common_name(&cn, x)) != 0)
		return smp_error_set(err, r, r == SMP_ERR_NOMEM ? "out of memory" :
				     "the CA certificate has no name to give its entry");
	if (p->ca_sanitised_names) {
		r = smp_ca_sanitised_name(&plan->name, cn);
		free(cn);
		if (r != 0)
			return smp_error_set(err, r, r == SMP_ERR_NOMEM ? "out of memory" :
					     "the CA name is not UTF-8");
	} else {
		plan->name = cn;
	}
	plan->container = kind == SMP_CA_ROOT ? c->roots : c->intermediates;
	plan->attr = kind == SMP_CA_CROSS && p->ca_cross_attr != NULL ? p->ca_cross_attr :
		     p->ca_cert_attr;
	if ((plan->dn = rdn_under(p->rdn_attr != NULL ? p->rdn_attr : "cn", plan->name,
				  plan->container)) == NULL) {
		smp_ca_plan_release(plan);
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	}
	if (!exists) {
		plan->write = SMP_CA_WRITE_CREATE;
		return 0;
	}
	/* exact values: the same bytes are there already, or this one is added beside them */
	plan->write = SMP_CA_WRITE_ADD;
	for (size_t i = 0; i < n; i++)
		if (values[i].bv_len == der->bv_len &&
		    memcmp(values[i].bv_val, der->bv_val, der->bv_len) == 0)
			plan->write = SMP_CA_WRITE_NONE;
	return 0;
}

/* What certutil -dspublish puts in a required attribute it has nothing for: one zero byte. */
static const char zero_byte[1] = { 0 };

size_t smp_ca_entry_values(const smp_profile *p, const smp_ca_plan *plan,
			   const struct berval *der, const char **attrs, struct berval *values,
			   size_t max)
{
	size_t n = 0;

#define PUT(a, v, l) do { if (n < max) { attrs[n] = (a); values[n].bv_val = (char *)(v); \
		values[n].bv_len = (l); n++; } } while (0)
	for (size_t i = 0; p->ca_classes != NULL && p->ca_classes[i] != NULL; i++)
		PUT("objectClass", p->ca_classes[i], strlen(p->ca_classes[i]));
	PUT("cn", plan->name, strlen(plan->name));
	PUT(plan->attr, der->bv_val, der->bv_len);
	/* certificationAuthority must hold cACertificate even where the value went into
	   crossCertificatePair */
	if (strcmp(plan->attr, p->ca_cert_attr) != 0)
		PUT(p->ca_cert_attr, zero_byte, sizeof(zero_byte));
	for (size_t i = 0; p->ca_extra_attrs != NULL && p->ca_extra_attrs[i] != NULL; i++)
		PUT(p->ca_extra_attrs[i], zero_byte, sizeof(zero_byte));
#undef PUT
	return n;
}

size_t smp_ca_chain_marks(X509 *cert, X509 *const *cas, size_t n, unsigned char *marks)
{
	X509 *at = cert;
	size_t marked = 0;

	for (int depth = 0; depth < 16 && at != NULL; depth++) {
		X509 *next = NULL;

		if (at != cert && X509_self_signed(at, 0) == 1)
			break;
		for (size_t i = 0; i < n && next == NULL; i++) {
			if (cas[i] == at || cas[i] == NULL)
				continue;
			/* the name matches and the signature verifies with that CA's key */
			if (X509_check_issued(cas[i], at) == X509_V_OK &&
			    X509_verify(at, X509_get0_pubkey(cas[i])) == 1) {
				if (!marks[i])
					marked++;
				marks[i] = 1;
				next = cas[i];
			}
		}
		at = next;
	}
	ERR_clear_error();
	return marked;
}

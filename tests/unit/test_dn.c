/*
 * Unit tests: a certificate's subject as a directory DN (smp_name_to_dn, certutil's fallback
 * in SPEC §4) and the attribute types DNs are compared by (intake/dn.h). Every DN made here is
 * also read back with libldap's ldap_str2dn and compared, AVA by AVA, with the X509_NAME it
 * came from: the string is what a directory will parse, so that is the test that counts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <ldap.h>
#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "smimepub/cert.h"
#include "smimepub/dir.h"
#include "intake/dn.h"

/* One AVA of a test name: its type (OpenSSL's name or a dotted OID), value, and whether it
 * joins the RDN before it (a multi-valued RDN). */
struct ava {
	const char *type;
	const char *value;
	int joins;
};

/* The X509_NAME of avas, in DER order (root first), values as UTF8String. */
static X509_NAME *make_name(const struct ava *avas, size_t n)
{
	X509_NAME *name = X509_NAME_new();

	assert_non_null(name);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(X509_NAME_add_entry_by_txt(name, avas[i].type, MBSTRING_UTF8,
							    (const unsigned char *)avas[i].value,
							    -1, -1, avas[i].joins ? -1 : 0), 1);
	return name;
}

/* ldap_str2dn(dn) must give back name's structure and values exactly. */
static void assert_round_trip(const char *dn, const X509_NAME *name)
{
	LDAPDN ldn = NULL;
	int count = X509_NAME_entry_count(name), at = count, nrdn = 0;

	assert_int_equal(ldap_str2dn(dn, &ldn, LDAP_DN_FORMAT_LDAPV3), LDAP_SUCCESS);
	assert_non_null(ldn);
	while (ldn[nrdn] != NULL)
		nrdn++;
	/* LDAP order is the DER's reversed: walk the name from its end, one RDN at a time */
	for (int r = 0; r < nrdn; r++) {
		int set, first, k = 0;

		assert_true(at > 0);
		set = X509_NAME_ENTRY_set(X509_NAME_get_entry(name, at - 1));
		first = at - 1;
		while (first > 0 && X509_NAME_ENTRY_set(X509_NAME_get_entry(name, first - 1)) == set)
			first--;
		for (int i = first; i < at; i++, k++) {
			const X509_NAME_ENTRY *ne = X509_NAME_get_entry(name, i);
			const LDAPAVA *a = ldn[r][k];
			unsigned char *utf8 = NULL;
			int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(ne));
			char oid[128], got[128];
			const char *want;

			assert_non_null(a);
			assert_true(len >= 0);
			assert_int_equal(a->la_value.bv_len, (size_t)len);
			assert_memory_equal(a->la_value.bv_val, utf8, (size_t)len);
			OPENSSL_free(utf8);
			/* the type names the entry's attribute, by name or OID */
			OBJ_obj2txt(oid, sizeof(oid), X509_NAME_ENTRY_get_object(ne), 1);
			want = dn_attr_key(oid, strlen(oid)) != NULL ? dn_attr_key(oid, strlen(oid))
								      : oid;
			snprintf(got, sizeof(got), "%.*s", (int)a->la_attr.bv_len, a->la_attr.bv_val);
			if (dn_attr_key(got, strlen(got)) != NULL)
				snprintf(got, sizeof(got), "%s", dn_attr_key(got, strlen(got)));
			assert_string_equal(got, want);
		}
		assert_null(ldn[r][k]);
		at = first;
	}
	assert_int_equal(at, 0);
	ldap_dnfree(ldn);
}

/* smp_name_to_dn of avas is want, and reads back as the name. */
static void check(const struct ava *avas, size_t n, const char *want)
{
	X509_NAME *name = make_name(avas, n);
	smp_error err = SMP_ERROR_INIT;
	char *dn = NULL;

	assert_int_equal(smp_name_to_dn(&dn, name, &err), 0);
	assert_non_null(dn);
	assert_string_equal(dn, want);
	assert_round_trip(dn, name);
	free(dn);
	X509_NAME_free(name);
}

#define CHECK(want, ...) do { \
		const struct ava avas_[] = { __VA_ARGS__ }; \
		check(avas_, sizeof(avas_) / sizeof(avas_[0]), want); \
	} while (0)

/* ---- the DN made of a subject ------------------------------------------------------------ */

static void test_order_and_types(void **state)
{
	(void)state;
	/* the DER runs from the root down; the DN from the leaf up */
	CHECK("CN=Jane Doe,OU=Partners,O=Example,L=Berlin,ST=Berlin,C=DE",
	      { "C", "DE", 0 }, { "ST", "Berlin", 0 }, { "L", "Berlin", 0 },
	      { "O", "Example", 0 }, { "OU", "Partners", 0 }, { "CN", "Jane Doe", 0 });
	CHECK("CN=Jane,OU=Partners,DC=example,DC=test",
	      { "DC", "test", 0 }, { "DC", "example", 0 }, { "OU", "Partners", 0 },
	      { "CN", "Jane", 0 });
	/* types both directories name, whatever OpenSSL calls them */
	CHECK("UID=jdoe,STREET=Main St 1,DC=test",
	      { "DC", "test", 0 }, { "street", "Main St 1", 0 }, { "UID", "jdoe", 0 });
	CHECK("serialNumber=42,sn=Doe,givenName=Jane,title=Dr,CN=J",
	      { "CN", "J", 0 }, { "title", "Dr", 0 }, { "GN", "Jane", 0 }, { "SN", "Doe", 0 },
	      { "serialNumber", "42", 0 });
	/* emailAddress: AD's schema lacks it, OpenLDAP calls it email: its OID, as RFC 4514 says */
	CHECK("1.2.840.113549.1.9.1=jane@partner.example,CN=Jane",
	      { "CN", "Jane", 0 }, { "emailAddress", "jane@partner.example", 0 });
	/* a type neither knows (organizationIdentifier) */
	CHECK("2.5.4.97=VATDE-123,CN=Jane", { "CN", "Jane", 0 }, { "2.5.4.97", "VATDE-123", 0 });
}

static void test_escaped_values(void **state)
{
	(void)state;
	/* metacharacters come out as libldap writes them: hex pairs every directory reads */
	CHECK("CN=Smith\\2C John,DC=test", { "DC", "test", 0 }, { "CN", "Smith, John", 0 });
	CHECK("CN=a\\2Bb,DC=test", { "DC", "test", 0 }, { "CN", "a+b", 0 });
	CHECK("CN=\\22quoted\\22,DC=test", { "DC", "test", 0 }, { "CN", "\"quoted\"", 0 });
	CHECK("CN=\\23hash,DC=test", { "DC", "test", 0 }, { "CN", "#hash", 0 });
	CHECK("CN=mid#hash,DC=test", { "DC", "test", 0 }, { "CN", "mid#hash", 0 });
	CHECK("CN=\\20lead and trail\\20,DC=test", { "DC", "test", 0 },
	      { "CN", " lead and trail ", 0 });
	CHECK("CN=back\\5Cslash,DC=test", { "DC", "test", 0 }, { "CN", "back\\slash", 0 });
	CHECK("CN=\\3Ca\\3E\\3B b\\3Dc,DC=test", { "DC", "test", 0 }, { "CN", "<a>; b=c", 0 });
	CHECK("CN=Doe\\2C Jane \\2B \\22J\\22 \\3Cx\\3E\\3B y\\5Cz\\3D1,DC=test",
	      { "DC", "test", 0 }, { "CN", "Doe, Jane + \"J\" <x>; y\\z=1", 0 });
	/* non-ASCII stays UTF-8 */
	CHECK("CN=J\xc3\xbcrgen M\xc3\xbcller,O=M\xc3\xbcnchen,C=DE", { "C", "DE", 0 },
	      { "O", "M\xc3\xbcnchen", 0 }, { "CN", "J\xc3\xbcrgen M\xc3\xbcller", 0 });
	CHECK("CN=\xe5\xb1\xb1\xe7\x94\xb0 \xe5\xa4\xaa\xe9\x83\x8e,DC=test", { "DC", "test", 0 },
	      { "CN", "\xe5\xb1\xb1\xe7\x94\xb0 \xe5\xa4\xaa\xe9\x83\x8e", 0 });
}

static void test_multi_valued_rdn(void **state)
{
	(void)state;
	CHECK("CN=Jane Doe+UID=jdoe,OU=Partners,DC=test", { "DC", "test", 0 },
	      { "OU", "Partners", 0 }, { "CN", "Jane Doe", 0 }, { "UID", "jdoe", 1 });
	/* a '+' inside a value is escaped, the one between AVAs is not */
	CHECK("CN=a\\2Bb+UID=c\\2Cd,DC=test", { "DC", "test", 0 }, { "CN", "a+b", 0 },
	      { "UID", "c,d", 1 });
	/* in the middle of the name too */
	CHECK("CN=x,OU=A+OU=B,DC=test", { "DC", "test", 0 }, { "OU", "A", 0 }, { "OU", "B", 1 },
	      { "CN", "x", 0 });
}

/* Other string types become UTF-8: a BMPString and a Latin-1 T61String. */
static void test_string_types(void **state)
{
	static const unsigned char bmp[] = { 0x00, 'J', 0x00, 0xfc, 0x00, 'r' };
	X509_NAME *name = X509_NAME_new();
	smp_error err = SMP_ERROR_INIT;
	char *dn = NULL;

	(void)state;
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", V_ASN1_BMPSTRING, bmp,
						    sizeof(bmp), -1, 0), 1);
	assert_int_equal(smp_name_to_dn(&dn, name, &err), 0);
	assert_string_equal(dn, "CN=J\xc3\xbcr");
	assert_round_trip(dn, name);
	free(dn);
	X509_NAME_free(name);
}

static void test_no_dn(void **state)
{
	static const unsigned char bad[] = { 'J', 0xc3, 'x' };
	X509_NAME *name = X509_NAME_new();
	smp_error err = SMP_ERROR_INIT;
	char *dn = (char *)"untouched";

	(void)state;
	/* an empty subject names no entry */
	assert_int_equal(smp_name_to_dn(&dn, name, &err), 0);
	assert_null(dn);
	assert_int_equal(smp_name_to_dn(&dn, NULL, &err), 0);
	assert_null(dn);
	/* a UTF8String that is not UTF-8: no directory DN can hold it */
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", V_ASN1_UTF8STRING, bad,
						    sizeof(bad), -1, 0), 1);
	assert_int_equal(smp_name_to_dn(&dn, name, &err), SMP_ERR_BADINPUT);
	assert_null(dn);
	assert_non_null(strstr(err.msg, "CN"));
	X509_NAME_free(name);
}

/* A real certificate's subject, decoded from DER as publish does. */
static void test_from_der(void **state)
{
	static const struct ava avas[] = {
		{ "DC", "test", 0 }, { "DC", "example", 0 }, { "OU", "Partners", 0 },
		{ "CN", "Smith, John", 0 }, { "UID", "js", 1 },
	};
	X509_NAME *name = make_name(avas, sizeof(avas) / sizeof(avas[0])), *back;
	unsigned char *der = NULL;
	const unsigned char *p;
	smp_error err = SMP_ERROR_INIT;
	char *dn = NULL;
	int len;

	(void)state;
	assert_true((len = i2d_X509_NAME(name, &der)) > 0);
	p = der;
	assert_non_null(back = d2i_X509_NAME(NULL, &p, len));
	assert_int_equal(smp_name_to_dn(&dn, back, &err), 0);
	/* DER sorts a SET by encoding: the shorter UID AVA comes first, and so in the DN */
	assert_string_equal(dn, "UID=js+CN=Smith\\2C John,OU=Partners,DC=example,DC=test");
	assert_round_trip(dn, back);
	free(dn);
	OPENSSL_free(der);
	X509_NAME_free(back);
	X509_NAME_free(name);
}

/* ---- the subject as displayed --------------------------------------------------------------- */

/*
 * ci->subject is RFC 2253/4514 text (OpenSSL's): a backslash that escapes stays one, it is
 * not shown as "\x5c" (which no directory reads back), and UTF-8 stays UTF-8.
 */
static void test_subject_display(void **state)
{
	static const struct ava avas[] = {
		{ "O", "M\xc3\xbcller", 0 }, { "CN", "Smith, John", 0 }, { "UID", "a\\b+c", 1 },
		{ "CN", "\"q\" #1; <x>", 0 }, { "CN", "tab\there", 0 },
	};
	smp_trust_options to = SMP_TRUST_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;
	smp_trust *trust = NULL;
	smp_certinfo *ci = NULL;
	X509 *x = X509_new();
	X509_NAME *name = make_name(avas, sizeof(avas) / sizeof(avas[0]));
	EVP_PKEY *key = EVP_EC_gen("P-256");

	(void)state;
	to.use_system_store = 0;
	assert_int_equal(smp_trust_new(&trust, &to, &err), 0);
	assert_non_null(x);
	assert_non_null(key);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	assert_int_equal(X509_set_subject_name(x, name), 1);
	assert_int_equal(X509_set_issuer_name(x, name), 1);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	assert_int_equal(smp_cert_analyze(&ci, x, NULL, trust, &err), 0);
	assert_null(strstr(ci->subject, "\\x5c"));
	/* (OpenSSL's RFC 2253 text reverses the DER order, a multi-valued RDN's AVAs too) */
	assert_string_equal(ci->subject, "CN=tab\\09here,CN=\\\"q\\\" #1\\; \\<x\\>,"
			    "UID=a\\\\b\\+c+CN=Smith\\, John,O=M\xc3\xbcller");
	assert_string_equal(ci->issuer, ci->subject);
	smp_certinfo_free(ci);
	smp_trust_free(trust);
	EVP_PKEY_free(key);
	X509_NAME_free(name);
	X509_free(x);
}

/* ---- attribute types ---------------------------------------------------------------------- */

static const char *key(const char *type)
{
	return dn_attr_key(type, strlen(type));
}

static void test_attr_keys(void **state)
{
	(void)state;
	assert_string_equal(key("CN"), "cn");
	assert_string_equal(key("cn"), "cn");
	assert_string_equal(key("commonName"), "cn");
	assert_string_equal(key("COMMONNAME"), "cn");
	assert_string_equal(key("2.5.4.3"), "cn");
	assert_string_equal(key("OID.2.5.4.3"), "cn");
	assert_string_equal(key("dc"), "dc");
	assert_string_equal(key("domainComponent"), "dc");
	assert_string_equal(key("0.9.2342.19200300.100.1.25"), "dc");
	assert_string_equal(key("streetAddress"), "street");
	assert_string_equal(key("userid"), "uid");
	assert_string_equal(key("surname"), "sn");
	/* written as its OID, so keyed by it, under every name OpenLDAP gives it */
	assert_string_equal(key("email"), "1.2.840.113549.1.9.1");
	assert_string_equal(key("emailAddress"), "1.2.840.113549.1.9.1");
	assert_string_equal(key("1.2.840.113549.1.9.1"), "1.2.840.113549.1.9.1");
	/* unknown types, and prefixes of known ones, are not in the table */
	assert_null(key("proxyAddresses"));
	assert_null(key("2.5.4.97"));
	assert_null(key("c2"));
	assert_string_equal(dn_attr_key("CN=x", 2), "cn");  /* len bytes, not a C string */
	assert_null(key("commonNam"));
	assert_null(key(""));
}

/* DNs as output shows them: backslash escapes as AD writes them, whatever the server sent. */
static void test_dn_display(void **state)
{
	static const struct { const char *in, *want; } cases[] = {
		{ "cn=Smith\\2C John,ou=Partners,dc=example,dc=test",
		  "cn=Smith\\, John,ou=Partners,dc=example,dc=test" },
		{ "CN=Smith\\, John,OU=Partners,DC=example", "CN=Smith\\, John,OU=Partners,DC=example" },
		{ "cn=\\231 \\22Q\\22 A\\2BB,dc=x", "cn=\\#1 \\\"Q\\\" A\\+B,dc=x" },
		{ "cn=back\\5Cslash \\3Cx\\3E\\3B y,dc=x", "cn=back\\\\slash \\<x\\>\\; y,dc=x" },
		{ "cn=a+sn=b\\2C,dc=x", "cn=a+sn=b\\,,dc=x" },
		/* UTF-8 stays UTF-8, in the RDN that holds it; the others still read easily */
		{ "cn=J\\C3\\BCrgen\\2C M,ou=A\\2CB,dc=x", "cn=J\xc3\xbcrgen\\2C M,ou=A\\,B,dc=x" },
		{ "not a dn", "not a dn" },
		{ "", "" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = smp_dn_display(cases[i].in);

		assert_non_null(got);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("'%s': got '%s', want '%s'", cases[i].in, got, cases[i].want);
		free(got);
	}
	assert_null(smp_dn_display(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_types),
		cmocka_unit_test(test_escaped_values),
		cmocka_unit_test(test_multi_valued_rdn),
		cmocka_unit_test(test_string_types),
		cmocka_unit_test(test_no_dn),
		cmocka_unit_test(test_from_der),
		cmocka_unit_test(test_subject_display),
		cmocka_unit_test(test_dn_display),
		cmocka_unit_test(test_attr_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for partner CAs (SPEC §6): where they live (lib/dir/ca.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/pem.h>

#include "smimepub/ca.h"

static X509 *pki_cert(const char *name)
{
	const char *dir = getenv("SMIMEPUB_PKI");
	char path[4096];
	X509 *x = NULL;
	FILE *fp;

	if (dir == NULL || *dir == '\0')
		return NULL;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "r")) == NULL)
		return NULL;
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	return x;
}

static void assert_sanitised(const char *name, const char *want)
{
	char *got = NULL;

	assert_int_equal(smp_ca_sanitised_name(&got, name), 0);
	assert_string_equal(got, want);
	free(got);
}

/*
 * MS-WCCE 3.1.1.4.1.1: the example of 1.3.2.5 as the spec gives it (51 characters: not
 * shortened), escapes of the 3.1.1.4.1.1.2 characters and of non-ASCII as UTF-16, and
 * names over 51 characters cut (never inside an escape) with '-' and the 5-digit hash of
 * what was cut (3.1.1.4.1.1.1).
 */
static void test_sanitised_name(void **state)
{
	char *got = NULL;

	(void)state;
	assert_sanitised("LongCAName(WithSpeci@#$%^Characters",
			 "LongCAName!0028WithSpeci@!0023$!0025!005eCharacters");
	assert_sanitised("Test Root CA", "Test Root CA");
	assert_sanitised("a!b", "a!0021b");
	assert_sanitised("Z\xc3\xbcrich", "Z!00fcrich");
	assert_sanitised("emoji \xf0\x9f\x98\x80", "emoji !d83d!de00");
	/* 76 characters: cut at 51; hash of "ertification Authority G3" */
	assert_sanitised("Example Partner Organisation Secure Email Issuing Certification "
			 "Authority G3", "Example Partner Organisation Secure Email Issuing C-28249");
	/* the cut would split "!002c": the whole escape goes into the hash */
	assert_sanitised("Partner Issuing CA 2 (Test), Example & Co",
			 "Partner Issuing CA 2 !0028Test!0029!002c Example -10437");
	assert_sanitised("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA(x",
			 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-02640");
	assert_sanitised("Partner CA: Z\xc3\xbcrich/Gen\xc3\xa8ve #1 (2026) Example Partner Org",
			 "Partner CA!003a Z!00fcrich!002fGen!00e8ve !00231 -55305");
	/* exactly 51 stays, 52 is shortened */
	assert_sanitised("123456789012345678901234567890123456789012345678901",
			 "123456789012345678901234567890123456789012345678901");
	assert_int_equal(smp_ca_sanitised_name(&got, "1234567890123456789012345678901234567890"
					       "123456789012"), 0);
	assert_int_equal(strlen(got), 57);
	assert_string_equal(got + 51, "-00050");
	free(got);

	assert_int_equal(smp_ca_sanitised_name(&got, ""), SMP_ERR_BADINPUT);
	assert_int_equal(smp_ca_sanitised_name(&got, "bad \xc3"), SMP_ERR_BADINPUT);
	assert_int_equal(smp_ca_sanitised_name(&got, "overlong \xc0\xaf"), SMP_ERR_BADINPUT);
	assert_null(got);
}

/* Root, intermediate, cross-certificate (a CA issued to a root's subject and key), not a CA. */
static void test_classify(void **state)
{
	X509 *root = pki_cert("root.pem"), *inter = pki_cert("intermediate.pem");
	X509 *leaf = pki_cert("alice.pem"), *other = pki_cert("other-root.pem");
	STACK_OF(X509) *known = sk_X509_new_null();

	(void)state;
	if (root == NULL) {
		skip();
		return;
	}
	assert_int_equal(smp_ca_classify(root, NULL), SMP_CA_ROOT);
	assert_int_equal(smp_ca_classify(inter, NULL), SMP_CA_INTERMEDIATE);
	assert_int_equal(smp_ca_classify(leaf, NULL), SMP_CA_NOT_CA);
	assert_int_equal(smp_ca_classify(other, NULL), SMP_CA_ROOT);
	/* the intermediate is no cross-certificate while no root of its own name is known */
	sk_X509_push(known, root);
	sk_X509_push(known, other);
	assert_int_equal(smp_ca_classify(inter, known), SMP_CA_INTERMEDIATE);
	assert_string_equal(smp_ca_kind_name(SMP_CA_CROSS), "cross");
	sk_X509_free(known);
	X509_free(root);
	X509_free(inter);
	X509_free(leaf);
	X509_free(other);
}

/* The plan of a write: where, under which name, create / add / unchanged; what a new entry holds. */
static void test_plan(void **state)
{
	X509 *root = pki_cert("root.pem"), *inter = pki_cert("intermediate.pem");
	smp_ca_containers ad = SMP_CA_CONTAINERS_INIT, rfc = SMP_CA_CONTAINERS_INIT;
	smp_error err = SMP_ERROR_INIT;
	struct berval der = { 3, (char *)"abc" }, other = { 3, (char *)"xyz" };
	struct berval have[2] = { { 3, (char *)"xyz" }, { 3, (char *)"abc" } };
	struct berval values[16];
	const char *attrs[16];
	smp_ca_plan plan;
	size_t n;

	(void)state;
	if (root == NULL) {
		skip();
		return;
	}
	assert_int_equal(smp_ca_containers_for(&ad, &smp_profile_ad, "CN=Configuration,DC=x",
					       NULL, NULL, &err), 0);
	assert_int_equal(smp_ca_containers_for(&rfc, &smp_profile_rfc, NULL, "dc=x", NULL, &err),
			 0);

	assert_int_equal(smp_ca_plan_publish(&plan, &smp_profile_ad, &ad, root, &der,
					     SMP_CA_ROOT, 0, NULL, 0, &err), 0);
	assert_int_equal(plan.write, SMP_CA_WRITE_CREATE);
	assert_string_equal(plan.dn, "CN=Test Root CA,CN=Certification Authorities,"
			    "CN=Public Key Services,CN=Services,CN=Configuration,DC=x");
	assert_string_equal(plan.attr, "cACertificate");
	n = smp_ca_entry_values(&smp_profile_ad, &plan, &der, attrs, values, 16);
	assert_int_equal(n, 6);
	assert_string_equal(attrs[0], "objectClass");
	assert_string_equal(attrs[1], "objectClass");
	assert_string_equal(values[1].bv_val, "certificationAuthority");
	assert_string_equal(attrs[2], "cn");
	assert_string_equal(attrs[3], "cACertificate");
	assert_ptr_equal(values[3].bv_val, der.bv_val);
	assert_string_equal(attrs[4], "certificateRevocationList");
	assert_int_equal(values[4].bv_len, 1);
	assert_int_equal(values[4].bv_val[0], 0);
	assert_string_equal(attrs[5], "authorityRevocationList");
	smp_ca_plan_release(&plan);

	/* a renewed CA of the same name: a second value; the same bytes: unchanged */
	assert_int_equal(smp_ca_plan_publish(&plan, &smp_profile_ad, &ad, inter, &der,
					     SMP_CA_INTERMEDIATE, 1, &other, 1, &err), 0);
	assert_int_equal(plan.write, SMP_CA_WRITE_ADD);
	assert_string_equal(plan.dn, "CN=Test Issuing CA 1,CN=AIA,CN=Public Key Services,"
			    "CN=Services,CN=Configuration,DC=x");
	smp_ca_plan_release(&plan);
	assert_int_equal(smp_ca_plan_publish(&plan, &smp_profile_ad, &ad, inter, &der,
					     SMP_CA_INTERMEDIATE, 1, have, 2, &err), 0);
	assert_int_equal(plan.write, SMP_CA_WRITE_NONE);
	smp_ca_plan_release(&plan);

	/* AD: a cross-certificate into AIA's crossCertificatePair; the class still needs a
	   cACertificate */
	assert_int_equal(smp_ca_plan_publish(&plan, &smp_profile_ad, &ad, inter, &der,
					     SMP_CA_CROSS, 0, NULL, 0, &err), 0);
	assert_string_equal(plan.attr, "crossCertificatePair");
	n = smp_ca_entry_values(&smp_profile_ad, &plan, &der, attrs, values, 16);
	assert_int_equal(n, 7);
	assert_string_equal(attrs[4], "cACertificate");
	assert_int_equal(values[4].bv_len, 1);
	smp_ca_plan_release(&plan);

	/* OpenLDAP: one container, applicationProcess + pkiCA, cACertificate;binary */
	assert_int_equal(smp_ca_plan_publish(&plan, &smp_profile_rfc, &rfc, root, &der,
					     SMP_CA_ROOT, 0, NULL, 0, &err), 0);
	assert_string_equal(plan.dn, "cn=Test Root CA,ou=CAs,dc=x");
	assert_string_equal(plan.attr, "cACertificate;binary");
	n = smp_ca_entry_values(&smp_profile_rfc, &plan, &der, attrs, values, 16);
	assert_int_equal(n, 5);
	assert_string_equal(values[1].bv_val, "applicationProcess");
	assert_string_equal(values[2].bv_val, "pkiCA");
	smp_ca_plan_release(&plan);
	assert_int_equal(smp_ca_plan_publish(&plan, &smp_profile_rfc, &rfc, inter, &der,
					     SMP_CA_CROSS, 0, NULL, 0, &err), 0);
	assert_string_equal(plan.attr, "cACertificate;binary");
	smp_ca_plan_release(&plan);

	assert_int_equal(smp_ca_plan_publish(&plan, &smp_profile_rfc, &rfc, root, &der,
					     SMP_CA_NOT_CA, 0, NULL, 0, &err), SMP_ERR_BADINPUT);
	smp_ca_containers_release(&ad);
	smp_ca_containers_release(&rfc);
	X509_free(root);
	X509_free(inter);
}

/* AD: below the configuration partition the root DSE names, whatever the forest is called. */
static void test_containers_ad(void **state)
{
	smp_ca_containers c = SMP_CA_CONTAINERS_INIT;
	smp_error err = SMP_ERROR_INIT;

	(void)state;
	assert_int_equal(smp_ca_containers_for(&c, &smp_profile_ad,
					       "CN=Configuration,DC=corp,DC=other", "DC=ignored",
					       "ou=ignored", &err), 0);
	assert_string_equal(c.roots, "CN=Certification Authorities,CN=Public Key Services,"
			    "CN=Services,CN=Configuration,DC=corp,DC=other");
	assert_string_equal(c.intermediates, "CN=AIA,CN=Public Key Services,CN=Services,"
			    "CN=Configuration,DC=corp,DC=other");
	smp_ca_containers_release(&c);
	assert_null(c.roots);

	/* no partition, or one that is not a DN */
	assert_int_equal(smp_ca_containers_for(&c, &smp_profile_ad, NULL, "DC=x", NULL, &err),
			 SMP_ERR_USAGE);
	assert_non_null(strstr(err.msg, "configurationNamingContext"));
	assert_null(c.roots);
	assert_int_equal(smp_ca_containers_for(&c, &smp_profile_ad, "not a dn", NULL, NULL, &err),
			 SMP_ERR_USAGE);
	assert_null(c.roots);
}

/* OpenLDAP: one container, --ca-base, by default ou=CAs above the base. */
static void test_containers_rfc(void **state)
{
	smp_ca_containers c = SMP_CA_CONTAINERS_INIT;
	smp_error err = SMP_ERROR_INIT;

	(void)state;
	assert_int_equal(smp_ca_containers_for(&c, &smp_profile_rfc, "CN=Configuration,DC=x",
					       "dc=example,dc=test", NULL, &err), 0);
	assert_string_equal(c.roots, "ou=CAs,dc=example,dc=test");
	assert_string_equal(c.intermediates, c.roots);
	smp_ca_containers_release(&c);

	/* an explicit base wins, normalised by libldap */
	assert_int_equal(smp_ca_containers_for(&c, &smp_profile_rfc, NULL, "dc=example,dc=test",
					       "ou=Partner CAs, o=PKI", &err), 0);
	assert_string_equal(c.roots, "ou=Partner CAs,o=PKI");
	assert_string_equal(c.intermediates, "ou=Partner CAs,o=PKI");
	smp_ca_containers_release(&c);

	assert_int_equal(smp_ca_containers_for(&c, &smp_profile_rfc, NULL, NULL, NULL, &err),
			 SMP_ERR_USAGE);
	assert_int_equal(smp_ca_containers_for(&c, &smp_profile_rfc, NULL, NULL, "bogus", &err),
			 SMP_ERR_USAGE);
	assert_non_null(strstr(err.msg, "'bogus'"));
	assert_null(c.roots);
}

/* The layout is data: a profile copied under another name keeps it; a third one has its own. */
static void test_containers_are_profile_data(void **state)
{
	static const char *const classes[] = { "top", "pkiCA", NULL };
	smp_profile renamed = smp_profile_ad, third = smp_profile_rfc;
	smp_ca_containers c = SMP_CA_CONTAINERS_INIT;
	smp_error err = SMP_ERROR_INIT;

	(void)state;
	renamed.name = "rfc";
	assert_int_equal(smp_ca_containers_for(&c, &renamed, "CN=Configuration,DC=a", NULL, NULL,
					       &err), 0);
	assert_string_equal(c.intermediates, "CN=AIA,CN=Public Key Services,CN=Services,"
			    "CN=Configuration,DC=a");
	smp_ca_containers_release(&c);

	third.name = "ad";
	third.ca_default_base_rdn = "cn=trust";
	third.ca_classes = classes;
	assert_int_equal(smp_ca_containers_for(&c, &third, NULL, "o=x", NULL, &err), 0);
	assert_string_equal(c.roots, "cn=trust,o=x");
	smp_ca_containers_release(&c);
}

/* An LDIF export has no CA containers to search: refused in words, not a crash. */
static void test_walk_refused_on_export(void **state)
{
	char path[] = "/tmp/smimepub-ca-XXXXXX";
	smp_ca_containers c = SMP_CA_CONTAINERS_INIT;
	smp_error err = SMP_ERROR_INIT;
	smp_dir *d = NULL;
	int fd;

	(void)state;
	assert_true((fd = mkstemp(path)) >= 0);
	assert_true(write(fd, "dn: cn=a,dc=example,dc=test\ncn: a\n\n", 35) == 35);
	close(fd);
	assert_int_equal(smp_dir_open_ldif(&d, path, SMP_SCHEMA_RFC, "dc=example,dc=test", &err),
			 0);
	assert_int_equal(smp_dir_ca_containers(&c, d, NULL, &err), 0);
	assert_string_equal(c.roots, "ou=CAs,dc=example,dc=test");
	assert_int_equal(smp_dir_ca_walk(d, &c, NULL, NULL, &err), SMP_ERR_USAGE);
	assert_non_null(strstr(err.msg, "read-only"));
	smp_ca_containers_release(&c);
	smp_dir_close(d);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_containers_ad),
		cmocka_unit_test(test_containers_rfc),
		cmocka_unit_test(test_containers_are_profile_data),
		cmocka_unit_test(test_walk_refused_on_export),
		cmocka_unit_test(test_sanitised_name),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_plan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

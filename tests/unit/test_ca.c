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

#include "smimepub/ca.h"

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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

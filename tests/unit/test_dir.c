/*
 * Unit tests: the directory interface (smimepub/dir.h) over its LDIF-export backend, and the
 * profiles as data. No server: every export is written here to a temporary file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smimepub/dir.h"
#include "dir/schema.h"

/* ---- helpers ------------------------------------------------------------------------------ */

/* Writes text to a new temporary file from the template path (changed in place). */
static void write_temp(char *path, const char *text)
{
	int fd = mkstemp(path);
	FILE *fp;

	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

static void append(const char *path, const char *text)
{
	FILE *fp = fopen(path, "a");

	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

/* The DNs smp_dir_find_by_address returns for addr, joined with ';'. */
static void assert_found(smp_dir *d, const char *addr, const char *want)
{
	smp_error err = SMP_ERROR_INIT;
	smp_entry **v = NULL;
	size_t n = 0;
	char got[2048] = "";

	assert_int_equal(smp_dir_find_by_address(d, addr, &v, &n, &err), 0);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strncat(got, ";", sizeof(got) - strlen(got) - 1);
		strncat(got, v[i]->dn, sizeof(got) - strlen(got) - 1);
	}
	smp_entries_free(v, n);
	assert_string_equal(got, want);
}

/* Collects the DNs a walk hands out, joined with ';'. */
struct walked {
	char dns[2048];
	int n;
};

static int collect(const smp_entry *e, void *ctx)
{
	struct walked *w = ctx;

	if (w->n++ > 0)
		strncat(w->dns, ";", sizeof(w->dns) - strlen(w->dns) - 1);
	strncat(w->dns, e->dn, sizeof(w->dns) - strlen(w->dns) - 1);
	return 0;
}

/* Two partners, one of them with an escaped comma in its name, and a container. */
static const char EXPORT[] =
	"dn: OU=Partners,DC=example,DC=test\nobjectClass: organizationalUnit\n\n"
	"dn: CN=Smith\\, John,OU=Partners,DC=example,DC=test\n"
	"mail: John.Smith@Partner.Example\n"
	"proxyAddresses: SMTP:john.smith@partner.example\n"
	"proxyAddresses: smtp:js@partner.example\n"
	"proxyAddresses: X500:/o=Partner/cn=js\n"
	"userCertificate:: MAA=\n\n"
	"dn: CN=Nocert,OU=Partners,DC=example,DC=test\nmail: nocert@partner.example\n\n"
	"dn: CN=Ann,OU=Partners,DC=example,DC=test\nmail: ann@partner.example\n"
	"userSMIMECertificate:: MAA=\n\n";

/* ---- the LDIF backend through the public interface -------------------------------------- */

static void test_find_read_walk(void **state)
{
	char path[] = "/tmp/smimepub-dir-XXXXXX";
	smp_error err = SMP_ERROR_INIT;
	struct walked w = { "", 0 };
	smp_entry *e = NULL;
	smp_dir *d = NULL;

	(void)state;
	write_temp(path, EXPORT);
	assert_int_equal(smp_dir_open_ldif(&d, path, SMP_SCHEMA_RFC, NULL, &err), 0);
	assert_ptr_equal(smp_dir_profile(d), &smp_profile_rfc);
	assert_string_equal(smp_dir_base(d), "OU=Partners,DC=example,DC=test");

	/* mail and smtp: proxyAddresses, whatever the case; X500: values are no address */
	assert_found(d, "john.smith@partner.example", "CN=Smith\\, John,OU=Partners,DC=example,DC=test");
	assert_found(d, "JOHN.SMITH@PARTNER.EXAMPLE", "CN=Smith\\, John,OU=Partners,DC=example,DC=test");
	assert_found(d, "JS@partner.example", "CN=Smith\\, John,OU=Partners,DC=example,DC=test");
	assert_found(d, "/o=Partner/cn=js", "");
	assert_found(d, "nobody@partner.example", "");
	assert_found(d, "(mail=*)", "");

	/* a DN with an escaped comma, in any of its RFC 4514 spellings */
	assert_int_equal(smp_dir_read(d, "CN=Smith\\, John,OU=Partners,DC=example,DC=test", &e,
				      &err), 0);
	assert_string_equal(e->dn, "CN=Smith\\, John,OU=Partners,DC=example,DC=test");
	assert_int_equal(e->n_certs, 1);
	assert_int_equal(e->n_proxy, 3);
	smp_entry_free(e);
	e = NULL;
	assert_int_equal(smp_dir_read(d, "cn=smith\\2c john, ou=partners,dc=EXAMPLE,dc=test", &e,
				      &err), 0);
	assert_string_equal(e->dn, "CN=Smith\\, John,OU=Partners,DC=example,DC=test");
	smp_entry_free(e);
	e = NULL;
	/* unescaped, the comma splits the RDN: another DN, which does not exist */
	assert_int_equal(smp_dir_read(d, "CN=Smith, John,OU=Partners,DC=example,DC=test", &e, &err),
			 SMP_ERR_NOTFOUND);
	assert_null(e);

	/* the walk: entries holding a certificate (either attribute), in file order */
	assert_int_equal(smp_dir_walk(d, collect, NULL, &w, &err), 0);
	assert_string_equal(w.dns, "CN=Smith\\, John,OU=Partners,DC=example,DC=test;"
			    "CN=Ann,OU=Partners,DC=example,DC=test");
	smp_dir_close(d);
	unlink(path);
}

/* Entries as slapd and Samba name them: escapes as hex pairs, multi-valued RDNs, UTF-8. */
static const char SPELLINGS[] =
	"dn: ou=partners,dc=example,dc=test\nobjectClass: organizationalUnit\n\n"
	"dn: cn=Smith\\2C John,ou=partners,dc=example,dc=test\nmail: js@partner.example\n\n"
	"dn: uid=jdoe+cn=Jane Doe,ou=partners,dc=example,dc=test\nmail: jd@partner.example\n\n"
	"dn:: Y249SsO8cmdlbiBNw7xsbGVyLG91PXBhcnRuZXJzLGRjPWV4YW1wbGUsZGM9dGVzdA==\nmail: jm@partner.example\n\n"
	"dn: email=x@partner.example,ou=partners,dc=example,dc=test\n\n"
	"dn: CN=\\\"Q\\\" \\+ \\#1,OU=Partners,DC=example,DC=test\nmail: q@partner.example\n\n";

/* smp_dir_read(d, dn) finds the entry whose DN, as the export spells it, is want. */
static void assert_reads(smp_dir *d, const char *dn, const char *want)
{
	smp_error err = SMP_ERROR_INIT;
	smp_entry *e = NULL;

	if (want == NULL) {
		assert_int_equal(smp_dir_read(d, dn, &e, &err), SMP_ERR_NOTFOUND);
		assert_null(e);
		return;
	}
	if (smp_dir_read(d, dn, &e, &err) != 0)
		fail_msg("'%s': %s", dn, err.msg);
	assert_string_equal(e->dn, want);
	smp_entry_free(e);
}

/*
 * A DN is found in whatever spelling names the same entry on a server: the one
 * smp_name_to_dn makes of a certificate's subject among them (SPEC §4's fallback).
 */
static void test_dn_spellings(void **state)
{
	static const char *const smith = "cn=Smith\\2C John,ou=partners,dc=example,dc=test";
	static const char *const jane = "uid=jdoe+cn=Jane Doe,ou=partners,dc=example,dc=test";
	static const char *const juergen = "cn=J\xc3\xbcrgen M\xc3\xbcller,ou=partners,dc=example,"
					   "dc=test";
	static const char *const q = "CN=\\\"Q\\\" \\+ \\#1,OU=Partners,DC=example,DC=test";
	char path[] = "/tmp/smimepub-dir-XXXXXX";
	smp_error err = SMP_ERROR_INIT;
	smp_dir *d = NULL;

	(void)state;
	write_temp(path, SPELLINGS);
	assert_int_equal(smp_dir_open_ldif(&d, path, SMP_SCHEMA_RFC, NULL, &err), 0);
	/* the base as the export spells it */
	assert_string_equal(smp_dir_base(d), "ou=partners,dc=example,dc=test");

	assert_reads(d, "CN=Smith\\, John,OU=Partners,DC=example,DC=test", smith);
	assert_reads(d, "CN=Smith\\2C John,OU=Partners,DC=example,DC=test", smith);
	assert_reads(d, "commonName=SMITH\\, JOHN,organizationalUnitName=partners,"
		     "domainComponent=example,0.9.2342.19200300.100.1.25=test", smith);
	assert_reads(d, "2.5.4.3=Smith\\, John,ou=partners,dc=example,dc=test", smith);
	assert_reads(d, "CN=Smith\\, Johnny,OU=Partners,DC=example,DC=test", NULL);
	assert_reads(d, "CN=Smith,CN=John,OU=Partners,DC=example,DC=test", NULL);

	/* an RDN is a set: its AVAs in any order */
	assert_reads(d, "CN=Jane Doe+UID=jdoe,OU=Partners,DC=example,DC=test", jane);
	assert_reads(d, "UID=JDOE+CN=jane doe,OU=Partners,DC=example,DC=test", jane);
	assert_reads(d, "CN=Jane Doe,OU=Partners,DC=example,DC=test", NULL);
	assert_reads(d, "CN=Jane Doe+UID=jdoe+L=x,OU=Partners,DC=example,DC=test", NULL);

	/* UTF-8 as it is or as hex pairs (the export had it in base64) */
	assert_reads(d, "CN=J\xc3\xbcrgen M\xc3\xbcller,OU=Partners,DC=example,DC=test", juergen);
	assert_reads(d, "CN=J\\C3\\BCrgen M\\C3\\BCller,OU=Partners,DC=example,DC=test", juergen);

	/* the type's other names and OID */
	assert_reads(d, "1.2.840.113549.1.9.1=x@partner.example,OU=Partners,DC=example,DC=test",
		     "email=x@partner.example,ou=partners,dc=example,dc=test");
	assert_reads(d, "emailAddress=X@partner.example,OU=Partners,DC=example,DC=test",
		     "email=x@partner.example,ou=partners,dc=example,dc=test");

	/* quotes, plus and hash, escaped by character or by hex pair */
	assert_reads(d, "CN=\\22Q\\22 \\2B \\231,OU=Partners,DC=example,DC=test", q);
	assert_reads(d, "cn=\\\"q\\\" \\+ \\#1,ou=partners,dc=example,dc=test", q);
	smp_dir_close(d);
	unlink(path);
}

static void test_writes_refused(void **state)
{
	char path[] = "/tmp/smimepub-dir-XXXXXX";
	smp_error err = SMP_ERROR_INIT;
	struct berval val = { 3, "abc" };
	smp_change ch = { "userCertificate", NULL, 0, &val, 1 };
	const char *addrs[] = { "ann@partner.example" };
	const char *dn = "CN=Ann,OU=Partners,DC=example,DC=test";
	char *created = (char *)"untouched";
	smp_dir_reply reply;
	smp_dir *d = NULL;
	int msgid = 7;

	(void)state;
	write_temp(path, EXPORT);
	assert_int_equal(smp_dir_open_ldif(&d, path, SMP_SCHEMA_AD, NULL, &err), 0);

#define ASSERT_REFUSED(call, what) do { \
		smp_error_clear(&err); \
		assert_int_equal((call), SMP_ERR_USAGE); \
		assert_int_equal(err.code, SMP_ERR_USAGE); \
		assert_non_null(strstr(err.msg, "cannot " what ": the LDIF export '")); \
		assert_non_null(strstr(err.msg, path)); \
		assert_non_null(strstr(err.msg, "' is read-only")); \
	} while (0)
	ASSERT_REFUSED(smp_dir_modify(d, dn, &ch, 1, &err), "modify an entry");
	ASSERT_REFUSED(smp_dir_create_contact(d, NULL, "New", "new@partner.example", &created,
					      &err), "create a contact");
	assert_null(created);
	ASSERT_REFUSED(smp_dir_modify_send(d, dn, &ch, 1, &msgid, &err), "modify an entry");
	assert_int_equal(msgid, -1);
	msgid = 7;
	ASSERT_REFUSED(smp_dir_read_send(d, dn, &msgid, &err), "send a search");
	assert_int_equal(msgid, -1);
	msgid = 7;
	ASSERT_REFUSED(smp_dir_find_addresses_send(d, addrs, 1, &msgid, &err), "send a search");
	assert_int_equal(msgid, -1);
	ASSERT_REFUSED(smp_dir_next_reply(d, &reply, &err), "wait for a reply");
	assert_null(reply.entry);
	ASSERT_REFUSED(smp_dir_reconnect(d, &err), "reconnect");
#undef ASSERT_REFUSED
	assert_null(smp_dir_ldap(d));
	/* still usable after every refusal */
	assert_found(d, "ann@partner.example", dn);
	smp_dir_close(d);
	unlink(path);
}

/* ---- walk only: the export streamed ------------------------------------------------------ */

static int stop_at_second(const smp_entry *e, void *ctx)
{
	(void)e;
	return ++*(int *)ctx == 2 ? 42 : 0;
}

static void test_walk_only_streams(void **state)
{
	char path[] = "/tmp/smimepub-dir-XXXXXX";
	smp_ldif_options o = SMP_LDIF_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;
	struct walked w = { "", 0 };
	smp_entry *e = NULL, **v = NULL;
	smp_dir *d = NULL;
	size_t n = 0;
	int count = 0;

	(void)state;
	write_temp(path, EXPORT);
	o.walk_only = 1;
	assert_int_equal(smp_dir_open_ldif_ex(&d, path, &o, &err), 0);
	assert_ptr_equal(smp_dir_profile(d), &smp_profile_rfc);  /* auto, nothing read yet */
	assert_null(smp_dir_base(d));

	/* nothing was read at open: what is appended afterwards is walked, AD markers too */
	append(path, "dn: CN=Late,OU=Partners,DC=example,DC=test\nobjectGUID:: AAAA\n"
		     "mail: late@partner.example\nuserCertificate:: MAA=\n\n");
	assert_int_equal(smp_dir_walk(d, collect, NULL, &w, &err), 0);
	assert_string_equal(w.dns, "CN=Smith\\, John,OU=Partners,DC=example,DC=test;"
			    "CN=Ann,OU=Partners,DC=example,DC=test;"
			    "CN=Late,OU=Partners,DC=example,DC=test");
	assert_ptr_equal(smp_dir_profile(d), &smp_profile_ad);

	/* a file can be walked again; the callback's stop comes back as it is */
	assert_int_equal(smp_dir_walk(d, stop_at_second, NULL, &count, &err), 42);

	/* no index: searches are refused, saying why */
	assert_int_equal(smp_dir_find_by_address(d, "ann@partner.example", &v, &n, &err),
			 SMP_ERR_USAGE);
	assert_non_null(strstr(err.msg, "walk only"));
	assert_null(v);
	assert_int_equal(smp_dir_read(d, "CN=Ann,OU=Partners,DC=example,DC=test", &e, &err),
			 SMP_ERR_USAGE);
	assert_null(e);
	assert_int_equal(smp_dir_reconnect(d, &err), SMP_ERR_USAGE);
	assert_non_null(strstr(err.msg, "read-only"));

	/* a malformed record stops the walk after the entries before it */
	append(path, "dn: CN=Broken,OU=Partners,DC=example,DC=test\nnot ldif at all\n");
	memset(&w, 0, sizeof(w));
	assert_int_equal(smp_dir_walk(d, collect, NULL, &w, &err), SMP_ERR_BADINPUT);
	assert_int_equal(w.n, 3);
	assert_non_null(strstr(err.msg, "line"));
	smp_dir_close(d);
	unlink(path);

	/* an explicit base skips the entries outside it; a bad base is a usage error */
	memcpy(path, "/tmp/smimepub-dir-XXXXXX", sizeof(path));
	write_temp(path, EXPORT);
	append(path, "dn: CN=Out,OU=Staff,DC=example,DC=test\nuserCertificate:: MAA=\n\n");
	o.base = "cn=ann, ou=partners,dc=example,dc=test";
	assert_int_equal(smp_dir_open_ldif_ex(&d, path, &o, &err), 0);
	memset(&w, 0, sizeof(w));
	assert_int_equal(smp_dir_walk(d, collect, NULL, &w, &err), 0);
	assert_string_equal(w.dns, "CN=Ann,OU=Partners,DC=example,DC=test");
	smp_dir_close(d);
	d = NULL;
	o.base = "not a DN";
	assert_int_equal(smp_dir_open_ldif_ex(&d, path, &o, &err), SMP_ERR_USAGE);
	assert_null(d);
	unlink(path);
	o.base = NULL;
	assert_int_equal(smp_dir_open_ldif_ex(&d, path, &o, &err), SMP_ERR_NOFILE);
	assert_null(d);
}

/* ---- profiles are data ------------------------------------------------------------------- */

static const char *const mail_only[] = { "mail", NULL };
static const char *const third_classes[] = { "top", "person", "mailRecipient", NULL };
static const char *const third_partitions[] = { "OU=Archive", NULL };

/* A directory kind smimepub does not ship: no code knows its name. */
static const smp_profile third = {
	.name = "third",
	.cert_attr = "userCertificate;binary",
	.contact_class = "mailRecipient",
	.contact_classes = third_classes,
	.match_attrs = mail_only,
	.proxy_prefix = NULL,
	.walk_filter = "(userCertificate;binary=*)",
	.max_page_size = 200,
	.rdn_attr = "uid",
	.max_value_size = 4096,
	.recipientless_partitions = third_partitions,
};

static void test_third_profile(void **state)
{
	char path[] = "/tmp/smimepub-dir-XXXXXX";
	smp_ldif_options o = SMP_LDIF_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;
	struct walked w = { "", 0 };
	smp_dir *d = NULL;
	char *dn = NULL;

	(void)state;
	write_temp(path, EXPORT);
	o.profile = &third;
	o.schema = SMP_SCHEMA_AD;  /* the profile given wins */
	assert_int_equal(smp_dir_open_ldif_ex(&d, path, &o, &err), 0);
	assert_ptr_equal(smp_dir_profile(d), &third);
	assert_null(smp_dir_warning(d));  /* no guess made */

	/* its match attributes: mail only, so proxyAddresses find nothing */
	assert_found(d, "john.smith@partner.example", "CN=Smith\\, John,OU=Partners,DC=example,DC=test");
	assert_found(d, "js@partner.example", "");

	/* its RDN attribute, escaped per RFC 4514 (libldap writes the comma as \2C) */
	assert_int_equal(smp_dir_contact_dn(d, NULL, "Doe, Jane", &dn, &err), 0);
	assert_string_equal(dn, "uid=Doe\\2C Jane,OU=Partners,DC=example,DC=test");
	free(dn);

	/* its partitions without recipients */
	assert_true(smp_dir_referral_is_ad_partition(d, "ldap://h/OU=Archive,DC=example,DC=test"));
	assert_false(smp_dir_referral_is_ad_partition(
		d, "ldap://h/CN=Configuration,DC=example,DC=test"));

	assert_int_equal(smp_dir_walk(d, collect, NULL, &w, &err), 0);
	assert_int_equal(w.n, 2);
	smp_dir_close(d);
	unlink(path);
}

/* A copy of a shipped profile under another name behaves as the original. */
static void test_name_is_display_only(void **state)
{
	char path[] = "/tmp/smimepub-dir-XXXXXX";
	smp_ldif_options o = SMP_LDIF_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;
	smp_profile renamed = smp_profile_ad;
	smp_dir *d = NULL;
	char *dn = NULL;

	(void)state;
	renamed.name = "not-ad";
	write_temp(path, EXPORT);
	o.profile = &renamed;
	assert_int_equal(smp_dir_open_ldif_ex(&d, path, &o, &err), 0);
	assert_int_equal(smp_dir_contact_dn(d, "OU=Partners,DC=example,DC=test", "New", &dn, &err), 0);
	assert_string_equal(dn, "CN=New,OU=Partners,DC=example,DC=test");
	free(dn);
	assert_true(smp_dir_referral_is_ad_partition(
		d, "ldap://example.test/CN=Configuration,DC=example,DC=test"));
	assert_true(smp_dir_referral_is_ad_partition(
		d, "ldap://example.test/DC=ForestDnsZones,DC=example,DC=test"));
	assert_found(d, "js@partner.example", "CN=Smith\\, John,OU=Partners,DC=example,DC=test");
	smp_dir_close(d);

	/* the rfc profile: lower-case RDN, no partitions */
	assert_int_equal(smp_dir_open_ldif(&d, path, SMP_SCHEMA_RFC, NULL, &err), 0);
	assert_int_equal(smp_dir_contact_dn(d, NULL, "New", &dn, &err), 0);
	assert_string_equal(dn, "cn=New,OU=Partners,DC=example,DC=test");
	free(dn);
	assert_false(smp_dir_referral_is_ad_partition(
		d, "ldap://example.test/CN=Configuration,DC=example,DC=test"));
	smp_dir_close(d);
	unlink(path);
}

static void test_shipped_profiles(void **state)
{
	(void)state;
	/* SPEC §4: AD's limits and attribute forms */
	assert_int_equal(smp_profile_ad.max_value_size, 32768);
	assert_int_equal(smp_profile_ad.max_page_size, 1000);
	assert_string_equal(smp_profile_ad.cert_attr, "userCertificate");
	assert_true(smp_profile_ad.write_target_address && smp_profile_ad.write_proxy_addresses);
	assert_false(smp_profile_ad.write_sn);
	assert_string_equal(smp_profile_ad.root_dse_capability, "1.2.840.113556.1.4.800");
	assert_string_equal(smp_profile_rfc.cert_attr, "userCertificate;binary");
	assert_true(smp_profile_rfc.write_sn);
	assert_int_equal(smp_profile_rfc.max_value_size, 0);
	assert_int_equal(smp_profile_rfc.max_page_size, 0);

	assert_ptr_equal(smp_profile_for_schema(SMP_SCHEMA_AD), &smp_profile_ad);
	assert_ptr_equal(smp_profile_for_schema(SMP_SCHEMA_RFC), &smp_profile_rfc);
	assert_null(smp_profile_for_schema(SMP_SCHEMA_AUTO));
	assert_ptr_equal(smp_profile_for_export_attr("OBJECTSID"), &smp_profile_ad);
	assert_null(smp_profile_for_export_attr("mail"));
	assert_null(smp_profile_for_export_attr(NULL));
	/* the last known profile is auto's default */
	assert_ptr_equal(smp_profiles[0], &smp_profile_ad);
	assert_ptr_equal(smp_profiles[1], &smp_profile_rfc);
	assert_null(smp_profiles[2]);
}

/* ---- the subschema model (lib/dir/schema.h) ------------------------------------------------ */

/* A NULL-terminated berval array of the strings (static storage; the strings are borrowed). */
#define BVS(name, ...)                                                                       \
	static const char *name##_s[] = { __VA_ARGS__, NULL };                                \
	struct berval name##_b[sizeof(name##_s) / sizeof(name##_s[0])];                       \
	struct berval *name[sizeof(name##_s) / sizeof(name##_s[0])];                          \
	for (size_t i_ = 0; name##_s[i_] != NULL; i_++) {                                     \
		name##_b[i_].bv_val = (char *)name##_s[i_];                                   \
		name##_b[i_].bv_len = strlen(name##_s[i_]);                                   \
		name[i_] = &name##_b[i_];                                                     \
	}                                                                                     \
	name[sizeof(name##_s) / sizeof(name##_s[0]) - 1] = NULL

static void test_schema_ad_content_rules(void **state)
{
	dir_schema *s = NULL;

	(void)state;
	/* as Samba (and AD) publish them: a class's own MUST/MAY, SUP, and the auxiliary
	   classes of a structural class in its DIT content rule; "MUST (cn )" spacing */
	BVS(at, "( 2.5.4.3 NAME 'cn' SYNTAX '1.3.6.1.4.1.1466.115.121.1.15' SINGLE-VALUE )",
	    "( 0.9.2342.19200300.100.1.3 NAME 'mail' SYNTAX '1.3.6.1.4.1.1466.115.121.1.15' "
	    "SINGLE-VALUE )",
	    "( 1.2.840.113556.1.2.352 NAME 'targetAddress' SYNTAX "
	    "'1.3.6.1.4.1.1466.115.121.1.15' SINGLE-VALUE )",
	    "( 1.2.840.113556.1.4.7000.102.50855 NAME 'msExchRecipientTypeDetails' SYNTAX "
	    "'1.2.840.113556.1.4.906' SINGLE-VALUE )",
	    "( 1.2.840.113556.1.2.447 NAME 'mailNickname' SYNTAX "
	    "'1.3.6.1.4.1.1466.115.121.1.15' SINGLE-VALUE )",
	    "( 1.2.840.113556.1.4.655 NAME 'legacyExchangeDN' SYNTAX "
	    "'1.3.6.1.4.1.1466.115.121.1.15' SINGLE-VALUE )",
	    "( 1.2.3.4 NAME 'notes' SYNTAX '1.3.6.1.4.1.1466.115.121.1.15' )",
	    "( 1.2.3.5 NAME 'precluded' SYNTAX '1.3.6.1.4.1.1466.115.121.1.15' )");
	BVS(oc, "( 2.5.6.0 NAME 'top' ABSTRACT MUST (objectClass ) )",
	    "( 2.5.6.6 NAME 'person' SUP top STRUCTURAL MUST (cn ) )",
	    "( 2.5.6.7 NAME 'organizationalPerson' SUP person STRUCTURAL MAY (mail ) )",
	    "( 1.2.840.113556.1.3.46 NAME 'mailRecipient' SUP top AUXILIARY MUST (cn ) MAY "
	    "(targetAddress $ mailNickname $ msExchRecipientTypeDetails $ precluded ) )",
	    "( 1.2.840.113556.1.5.15 NAME 'contact' SUP organizationalPerson STRUCTURAL MUST "
	    "(cn ) MAY (notes ) )",
	    "( 1.2.840.113556.1.5.9 NAME 'user' SUP organizationalPerson STRUCTURAL )");
	BVS(cr, "( 1.2.840.113556.1.5.15 NAME 'contact' AUX ( mailRecipient ) MUST (cn ) MAY "
	    "(legacyExchangeDN ) NOT ( precluded ) )");

	assert_int_equal(dir_schema_parse(&s, at, oc, cr), 0);
	assert_int_equal(dir_schema_has_attribute(s, "msexchrecipienttypedetails"), 1);
	assert_int_equal(dir_schema_has_attribute(s, "1.2.840.113556.1.2.447"), 1);
	assert_int_equal(dir_schema_has_attribute(s, "msExchVersion"), 0);
	/* own, inherited (SUP), the content rule's own, its auxiliary class's */
	assert_int_equal(dir_schema_class_may_hold(s, "contact", "notes"), 1);
	assert_int_equal(dir_schema_class_may_hold(s, "contact", "mail"), 1);
	assert_int_equal(dir_schema_class_may_hold(s, "contact", "objectClass"), 0); /* no type */
	assert_int_equal(dir_schema_class_may_hold(s, "CONTACT", "legacyExchangeDN"), 1);
	assert_int_equal(dir_schema_class_may_hold(s, "contact", "msExchRecipientTypeDetails"), 1);
	assert_int_equal(dir_schema_class_may_hold(s, "1.2.840.113556.1.5.15", "mailNickname"), 1);
	/* an attribute named by its OID in the class */
	assert_int_equal(dir_schema_class_may_hold(s, "contact", "targetAddress"), 1);
	/* precluded by the rule although the auxiliary class has it */
	assert_int_equal(dir_schema_class_may_hold(s, "contact", "precluded"), 0);
	/* no content rule for user: mailRecipient's attributes are not user's here */
	assert_int_equal(dir_schema_class_may_hold(s, "user", "mailNickname"), 0);
	assert_int_equal(dir_schema_class_may_hold(s, "user", "mail"), 1);
	assert_int_equal(dir_schema_class_may_hold(s, "nosuchclass", "mail"), 0);
	assert_int_equal(dir_schema_class_may_hold(s, "contact", "nosuchattr"), 0);
	dir_schema_free(s);
}

static void test_schema_openldap_and_broken(void **state)
{
	dir_schema *s = NULL;

	(void)state;
	/* OpenLDAP's form: no content rules; a superclass loop and an unparseable value */
	BVS(at, "( 2.5.4.3 NAME ( 'cn' 'commonName' ) SUP name )",
	    "( 2.5.4.4 NAME ( 'sn' 'surname' ) SUP name )",
	    "( 0.9.2342.19200300.100.1.3 NAME ( 'mail' 'rfc822Mailbox' ) EQUALITY "
	    "caseIgnoreIA5Match SYNTAX 1.3.6.1.4.1.1466.115.121.1.26{256} )",
	    "this is no attribute type");
	BVS(oc, "( 2.5.6.6 NAME 'person' DESC 'RFC2256: a person' SUP top STRUCTURAL MUST ( sn $ "
	    "cn ) )",
	    "( 2.16.840.1.113730.3.2.2 NAME 'inetOrgPerson' SUP organizationalPerson STRUCTURAL "
	    "MAY ( rfc822Mailbox ) )",
	    "( 2.5.6.7 NAME 'organizationalPerson' SUP person STRUCTURAL )",
	    "( 1.1.1 NAME 'a' SUP b STRUCTURAL )", "( 1.1.2 NAME 'b' SUP a STRUCTURAL )");

	assert_int_equal(dir_schema_parse(&s, at, oc, NULL), 0);
	assert_int_equal(dir_schema_has_attribute(s, "commonName"), 1);
	/* listed under another of its names */
	assert_int_equal(dir_schema_class_may_hold(s, "inetOrgPerson", "mail"), 1);
	assert_int_equal(dir_schema_class_may_hold(s, "inetOrgPerson", "surname"), 1);
	assert_int_equal(dir_schema_class_may_hold(s, "inetOrgPerson", "targetAddress"), 0);
	assert_int_equal(dir_schema_class_may_hold(s, "a", "cn"), 0);  /* the loop ends */
	dir_schema_free(s);
}

/* ---- Exchange's alias ---------------------------------------------------------------------- */

static void assert_alias(const char *name, const char *addr, const char *want)
{
	char *got = NULL;

	assert_int_equal(smp_exchange_alias(&got, name, addr), 0);
	assert_string_equal(got, want);
	free(got);
}

static void test_exchange_alias(void **state)
{
	char long_name[200];

	(void)state;
	assert_alias("Anna Maria Same", "a@x.example", "AnnaMariaSame");
	/* what an alias cannot hold becomes '?'; its special characters stay */
	assert_alias("Doe, Jane (Partner)", NULL, "Doe?Jane?Partner?");
	assert_alias("O'Neil+smime{x}|~", NULL, "O'Neil+smime{x}|~");
	assert_alias("a\\b\"c<d>;e@f", NULL, "a?b?c?d??e?f");
	/* U+00A1..U+00FF stay; other Unicode characters and bytes that are no UTF-8 do not */
	assert_alias("Zo\xc3\xab M\xc3\xbcller \xe2\x80\x99 \xe6\x9d\x8e", NULL,
		     "Zo\xc3\xabM\xc3\xbcller??");
	assert_alias("bad\xff\xc3(", NULL, "bad???");
	assert_alias("J. R. R. Tolkien", NULL, "J.R.R.Tolkien");
	/* '.' only between other characters */
	assert_alias(".. Dots .. here ..", NULL, "Dots.here");
	/* nothing left: the address's local part, made the same way */
	assert_alias(" ... ", "first.last+tag@partner.example", "first.last+tag");
	/* at most 64 characters */
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	{
		char *got = NULL;

		assert_int_equal(smp_exchange_alias(&got, long_name, NULL), 0);
		assert_int_equal(strlen(got), 64);
		free(got);
	}
}

/* A contact described on an export: the schema is unknown, so no recipient attribute. */
static void test_contact_on_export_is_no_exchange_recipient(void **state)
{
	char path[] = "/tmp/smimepub-dir-XXXXXX";
	smp_error err = SMP_ERROR_INIT;
	smp_contact *k = NULL;
	smp_dir *d = NULL;
	int target = 0;

	(void)state;
	write_temp(path, EXPORT);
	assert_int_equal(smp_dir_open_ldif(&d, path, SMP_SCHEMA_AD, NULL, &err), 0);
	assert_int_equal(smp_dir_class_may_hold(d, "contact", "mailNickname"), -1);
	assert_int_equal(smp_dir_contact_new(&k, d, NULL, "Anna Same", "anna@partner.example",
					     &err), 0);
	assert_int_equal(k->exchange, 0);
	for (size_t i = 0; i < k->n; i++) {
		for (const smp_recipient_attr *ra = smp_profile_ad.recipient_attrs; ra->attr; ra++)
			assert_string_not_equal(k->attrs[i], ra->attr);
		target += strcmp(k->attrs[i], "targetAddress") == 0;
	}
	assert_int_equal(target, 1);  /* the profile's default where the schema is unknown */
	smp_contact_free(k);
	smp_dir_close(d);

	/* OpenLDAP's profile has no Exchange */
	assert_int_equal(smp_dir_open_ldif(&d, path, SMP_SCHEMA_RFC, NULL, &err), 0);
	assert_int_equal(smp_dir_contact_new(&k, d, NULL, "Anna Same", "anna@partner.example",
					     &err), 0);
	assert_int_equal(k->exchange, -1);
	smp_contact_free(k);
	smp_dir_close(d);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find_read_walk),
		cmocka_unit_test(test_dn_spellings),
		cmocka_unit_test(test_writes_refused),
		cmocka_unit_test(test_walk_only_streams),
		cmocka_unit_test(test_third_profile),
		cmocka_unit_test(test_name_is_display_only),
		cmocka_unit_test(test_shipped_profiles),
		cmocka_unit_test(test_schema_ad_content_rules),
		cmocka_unit_test(test_schema_openldap_and_broken),
		cmocka_unit_test(test_exchange_alias),
		cmocka_unit_test(test_contact_on_export_is_no_exchange_recipient),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

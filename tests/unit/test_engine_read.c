/*
 * The engine's read-only operations through the public API only (include/smimepub/engine.h):
 * inspect of a test PKI file, and lookup and audit against an LDIF export. Every result is an
 * item handed to a callback; audit's items and summary are the same with analysis workers as
 * without.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "smimepub/engine.h"

#define T0 ((time_t)1780272000)   /* 2026-06-01T00:00:00Z */

static smp_trust *trust;
static char export_path[] = "/tmp/smimepub-engine-read-XXXXXX";

static const char *pki(void)
{
	const char *dir = getenv("SMIMEPUB_PKI");

	assert_non_null(dir);
	return dir;
}

static char *pki_path(const char *name)
{
	char *p = NULL;

	assert_true(asprintf(&p, "%s/%s", pki(), name) > 0);
	return p;
}

/* The DER of a PKI certificate as base64 on one line (caller frees). */
static char *pki_base64(const char *name)
{
	smp_error err = SMP_ERROR_INIT;
	smp_bundle *b = NULL;
	unsigned char *data = NULL, *der = NULL;
	char *path = pki_path(name), *out;
	size_t len = 0;
	int n;

	assert_int_equal(smp_read_file(&data, &len, path, 1 << 20, &err), 0);
	assert_int_equal(smp_bundle_read(&b, data, len, &err), 0);
	n = i2d_X509(smp_bundle_leaf(b, 0), &der);
	assert_true(n > 0);
	out = calloc(1, (size_t)n * 2 + 4);
	assert_non_null(out);
	EVP_EncodeBlock((unsigned char *)out, der, n);
	OPENSSL_free(der);
	smp_bundle_free(b);
	free(data);
	free(path);
	return out;
}

/* Alice with her certificate (usable); Nobody with Alice's expired one (not for nobody). */
static int setup(void **state)
{
	smp_trust_options opts = SMP_TRUST_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;
	char *ca = pki_path("root.pem"), *untrusted = pki_path("intermediate.pem");
	char *alice = pki_base64("alice.pem"), *old = pki_base64("alice-old-expired.pem");
	int fd = mkstemp(export_path);
	FILE *fp;

	(void)state;
	if (fd < 0 || (fp = fdopen(fd, "w")) == NULL)
		return -1;
	fprintf(fp, "dn: cn=Alice,ou=partners,dc=example,dc=test\nobjectClass: inetOrgPerson\n"
		"cn: Alice\nmail: alice@partner.example\nuserCertificate;binary:: %s\n\n"
		"dn: cn=Nobody,ou=partners,dc=example,dc=test\nobjectClass: inetOrgPerson\n"
		"cn: Nobody\nmail: nobody@partner.example\nuserCertificate;binary:: %s\n\n",
		alice, old);
	fclose(fp);
	opts.ca_file = ca;
	opts.untrusted_file = untrusted;
	opts.at = T0;
	opts.use_system_store = 0;
	if (smp_trust_new(&trust, &opts, &err) != 0) {
		fprintf(stderr, "trust: %s\n", err.msg);
		return -1;
	}
	free(ca);
	free(untrusted);
	free(alice);
	free(old);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	smp_trust_free(trust);
	unlink(export_path);
	return 0;
}

/* What the callbacks saw: each item as one line "action reason dn detail". */
struct seen {
	char lines[16][512];
	size_t n;
};

static int collect(const smp_item *it, void *ctx)
{
	struct seen *s = ctx;
	char detail[256] = "";
	size_t len = 0;

	assert_true(s->n < 16);
	assert_non_null(it->message);
	if (it->cert != NULL)
		snprintf(detail, sizeof(detail), "%s %zu", it->cert->emails[0],
			 it->cert->n_problems);
	if (it->lookup != NULL)
		snprintf(detail, sizeof(detail), "usable=%d values=%zu", it->lookup->usable,
			 it->lookup->n_values);
	if (it->audit != NULL)
		for (size_t i = 0; i < it->audit->n_values; i++) {
			const smp_audit_value *v = &it->audit->values[i];
			const smp_problem *p;
			size_t n = smp_audit_value_problems(v, &p);

			len += (size_t)snprintf(detail + len, sizeof(detail) - len, "%.8s %s:",
						v->sha256, v->attr);
			for (size_t k = 0; k < n; k++)
				len += (size_t)snprintf(detail + len, sizeof(detail) - len, " %s",
							p[k].code);
		}
	snprintf(s->lines[s->n++], sizeof(s->lines[0]), "%s %s %s %s", it->action,
		 it->reason ? it->reason : "-", it->dn ? it->dn : "-", detail);
	return 0;
}

static smp_session *session(smp_dir *d)
{
	smp_session_options so = SMP_SESSION_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;
	smp_session *s = NULL;

	so.dir = d;
	so.trust = trust;
	assert_int_equal(smp_session_new(&s, &so, &err), 0);
	return s;
}

static void test_inspect(void **state)
{
	smp_inspect_options io = SMP_INSPECT_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;
	struct seen seen = { .n = 0 };
	char *chain = pki_path("alice-chain.pem");
	const char *paths[] = { chain, "/nonexistent/bob.pem" };
	smp_session *s = session(NULL);  /* inspect needs no directory */

	(void)state;
	io.on_item = collect;
	io.ctx = &seen;
	assert_int_equal(smp_inspect_paths(s, &io, paths, 2, &err), 0);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.lines[0], "inspected - - alice@partner.example 0");
	assert_string_equal(seen.lines[1], "failed file_not_found - ");
	assert_int_equal(smp_session_status(s), 66);
	smp_session_free(s);

	/* an options struct of another version is refused, nothing reported */
	s = session(NULL);
	io.version = SMP_ENGINE_VERSION + 1;
	assert_int_equal(smp_inspect_paths(s, &io, paths, 2, &err), SMP_ERR_USAGE);
	assert_int_equal(seen.n, 2);
	smp_session_free(s);
	free(chain);
}

static void test_lookup(void **state)
{
	smp_lookup_options lo = SMP_LOOKUP_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;
	struct seen seen = { .n = 0 };
	smp_dir *d = NULL;
	smp_session *s;

	(void)state;
	assert_int_equal(smp_dir_open_ldif(&d, export_path, SMP_SCHEMA_RFC, NULL, &err), 0);
	s = session(d);
	lo.on_item = collect;
	lo.ctx = &seen;
	assert_int_equal(smp_lookup(s, &lo, "Alice@Partner.Example", &err), 0);
	assert_int_equal(smp_session_status(s), 0);
	assert_int_equal(smp_lookup(s, &lo, "nobody@partner.example", &err), 0);
	assert_int_equal(smp_session_status(s), 1);  /* no client can encrypt to nobody */
	assert_int_equal(smp_lookup(s, &lo, "carol@partner.example", &err), 0);
	assert_int_equal(smp_lookup(s, &lo, "not an address", &err), 0);
	assert_int_equal(seen.n, 4);
	assert_string_equal(seen.lines[0], "looked_up - cn=Alice,ou=partners,dc=example,dc=test "
			    "usable=1 values=1");
	assert_string_equal(seen.lines[1], "looked_up - cn=Nobody,ou=partners,dc=example,dc=test "
			    "usable=0 values=1");
	assert_string_equal(seen.lines[2], "skipped not_found - ");
	assert_string_equal(seen.lines[3], "skipped bad_address - ");
	smp_session_free(s);
	smp_dir_close(d);
}

/* A message from `from`, signed (multipart/signed) by the test PKI's name (NULL: unsigned). */
static char *signed_mail(const char *name, const char *from, size_t *len)
{
	static const char body[] = "Content-Type: text/plain\r\n\r\nhere is my certificate\r\n";
	BIO *out = BIO_new(BIO_s_mem()), *in = BIO_new_mem_buf(body, (int)sizeof(body) - 1);
	char *mail = NULL, *data;
	long n;

	assert_non_null(out);
	BIO_printf(out, "From: %s\r\nTo: certificates@example.org\r\nMessage-ID: <%s@t>\r\n"
		   "Subject: cert\r\nMIME-Version: 1.0\r\n", from, name ? name : "plain");
	if (name != NULL) {
		char *cp = pki_path(name), *kp = NULL;
		FILE *fp = fopen(cp, "r");
		X509 *cert;
		EVP_PKEY *key;
		CMS_ContentInfo *cms;

		assert_non_null(fp);
		cert = PEM_read_X509(fp, NULL, NULL, NULL);
		fclose(fp);
		assert_true(asprintf(&kp, "%.*s.key", (int)(strlen(cp) - 4), cp) > 0);
		fp = fopen(kp, "r");
		assert_non_null(fp);
		key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
		fclose(fp);
		cms = CMS_sign(cert, key, NULL, in, CMS_DETACHED | CMS_STREAM);
		assert_non_null(cms);
		assert_int_equal(SMIME_write_CMS(out, cms, in, CMS_DETACHED | CMS_STREAM), 1);
		CMS_ContentInfo_free(cms);
		X509_free(cert);
		EVP_PKEY_free(key);
		free(cp);
		free(kp);
	} else {
		BIO_write(out, body, (int)sizeof(body) - 1);
	}
	n = BIO_get_mem_data(out, &data);
	assert_true(n > 0);
	mail = malloc((size_t)n);
	memcpy(mail, data, (size_t)n);
	*len = (size_t)n;
	BIO_free(in);
	BIO_free(out);
	return mail;
}

/*
 * The mailbox harvester's engine call: one message at a time, each told done, failed or
 * unsettled (a dry run against the export: Alice's certificate is already there).
 */
static void test_harvest_data(void **state)
{
	static const struct {
		const char *signer, *from;
		smp_harvest_result want;
		const char *line;
	} cases[] = {
		{ "alice.pem", "alice@partner.example", SMP_HARVEST_DONE, "unchanged already_published cn=Alice," },
		{ NULL, "alice@partner.example", SMP_HARVEST_FAILED, "skipped unsigned" },
		{ "alice.pem", "mallory@partner.example", SMP_HARVEST_FAILED,
		  "skipped from_mismatch" },
		{ "bob-ec.pem", "Bob@partner.example", SMP_HARVEST_FAILED, "failed not_found" },
	};
	smp_harvest_options ho = SMP_HARVEST_OPTIONS_INIT;
	smp_session_options so = SMP_SESSION_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;
	volatile sig_atomic_t cancel = 0;
	smp_harvest_result res;
	smp_harvest *h = NULL;
	smp_session *s = NULL;
	smp_dir *d = NULL;

	(void)state;
	assert_int_equal(smp_dir_open_ldif(&d, export_path, SMP_SCHEMA_RFC, NULL, &err), 0);
	so.dir = d;
	so.trust = trust;
	so.dry_run = 1;
	so.cancel = &cancel;
	assert_int_equal(smp_session_new(&s, &so, &err), 0);
	ho.on_item = collect;
	assert_int_equal(smp_harvest_begin(&h, s, &ho, &err), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct seen seen = { .n = 0 };
		size_t len;
		char *m = signed_mail(cases[i].signer, cases[i].from, &len);

		ho.ctx = &seen;  /* the options are the caller's: read at each item */
		assert_int_equal(smp_harvest_data(h, (unsigned char *)m, len, "imap://x/;UID=1", &res,
						  &err), 0);
		assert_int_equal(seen.n, 1);
		if (strncmp(seen.lines[0], cases[i].line, strlen(cases[i].line)) != 0)
			fail_msg("case %zu: %s", i, seen.lines[0]);
		assert_int_equal(res, cases[i].want);
		free(m);
	}
	/* stopped before the message: nothing read, unsettled */
	cancel = 1;
	{
		struct seen seen = { .n = 0 };
		size_t len;
		char *m = signed_mail("alice.pem", "alice@partner.example", &len);

		ho.ctx = &seen;
		assert_int_equal(smp_harvest_data(h, (unsigned char *)m, len, "x", &res, &err),
				 SMP_ERR_CANCELLED);
		assert_int_equal(res, SMP_HARVEST_UNSETTLED);
		assert_int_equal(seen.n, 0);
		free(m);
	}
	smp_harvest_end(h);
	smp_session_free(s);
	smp_dir_close(d);
}

/* Audits the export with jobs analysis processes; the items into seen. */
static smp_audit_summary *audit(int jobs, struct seen *seen)
{
	smp_audit_options ao = SMP_AUDIT_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;
	smp_audit_summary *sum = NULL;
	smp_dir *d = NULL;
	smp_session *s;

	assert_int_equal(smp_dir_open_ldif(&d, export_path, SMP_SCHEMA_RFC, NULL, &err), 0);
	s = session(d);
	ao.jobs = jobs;
	ao.on_item = collect;
	ao.ctx = seen;
	assert_int_equal(smp_audit(s, &ao, &sum, &err), 0);
	assert_non_null(sum);
	smp_session_free(s);
	smp_dir_close(d);
	return sum;
}

static void test_audit(void **state)
{
	struct seen one = { .n = 0 }, two = { .n = 0 };
	smp_audit_summary *a = audit(1, &one), *b = audit(2, &two);

	(void)state;
	assert_int_equal(one.n, 2);
	assert_true(strncmp(one.lines[0], "audited - cn=Alice,", 19) == 0);
	/* Alice's one value: where it was read, and no problem */
	assert_string_equal(strchr(one.lines[0], ' ') + strlen(strchr(one.lines[0], ' ')) -
				    strlen(" userCertificate;binary:"), " userCertificate;binary:");
	assert_true(strncmp(one.lines[1], "audited - cn=Nobody,", 20) == 0);
	assert_non_null(strstr(one.lines[1], " expired"));
	assert_non_null(strstr(one.lines[1], " address_mismatch"));
	/* the same items, in the same order, whether the analysis ran here or in workers */
	assert_int_equal(two.n, one.n);
	for (size_t i = 0; i < one.n; i++)
		assert_string_equal(two.lines[i], one.lines[i]);
	for (smp_audit_summary *sum = a; sum != NULL; sum = sum == a ? b : NULL) {
		assert_int_equal(smp_audit_summary_entries(sum), 2);
		assert_int_equal(smp_audit_summary_values(sum), 2);
		assert_int_equal(smp_audit_summary_count(sum, "expired"), 1);
		assert_int_equal(smp_audit_summary_exit_status(sum), 2);
	}
	smp_audit_summary_free(a);
	smp_audit_summary_free(b);
}

/* render: called in the worker with the context as at the fork; writes the item's line. */
static int render_line(const smp_item *it, FILE *fp, void *ctx)
{
	struct seen tmp = { .n = 0 };

	(void)ctx;
	collect(it, &tmp);
	fprintf(fp, "%s\n", tmp.lines[0]);
	return 0;
}

struct output {
	char text[4096];
	size_t len;
};

static struct output *out_sink;
static int workers_ran;

static void on_output(const char *data, size_t len, void *ctx)
{
	struct output *o = out_sink;

	(void)ctx;
	workers_ran = 1;

	assert_true(o->len + len < sizeof(o->text));
	memcpy(o->text + o->len, data, len);
	o->len += len;
}

/* Rendering in the workers: the bytes arrive in walk order, the summary is the same. */
static void test_audit_rendered(void **state)
{
	smp_audit_options ao = SMP_AUDIT_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;
	smp_audit_summary *sum = NULL, *plain;
	struct seen one = { .n = 0 }, items = { .n = 0 };
	struct output out = { .len = 0 };
	char expect[4096];
	size_t len = 0;
	smp_dir *d = NULL;
	smp_session *s;

	(void)state;
	plain = audit(1, &one);
	for (size_t i = 0; i < one.n; i++)
		len += (size_t)snprintf(expect + len, sizeof(expect) - len, "%s\n", one.lines[i]);
	assert_int_equal(smp_dir_open_ldif(&d, export_path, SMP_SCHEMA_RFC, NULL, &err), 0);
	s = session(d);
	ao.jobs = 2;
	ao.on_item = collect;
	ao.render = render_line;
	ao.on_output = on_output;
	ao.ctx = &items;
	out_sink = &out;
	assert_int_equal(smp_audit(s, &ao, &sum, &err), 0);
	out.text[out.len] = '\0';
	if (workers_ran) {
		assert_string_equal(out.text, expect);
		assert_int_equal(items.n, 0);  /* audited entries never came to on_item */
	} else {                               /* one CPU: analysed here, reported as items */
		assert_int_equal(items.n, one.n);
	}
	assert_int_equal(smp_audit_summary_entries(sum), smp_audit_summary_entries(plain));
	assert_int_equal(smp_audit_summary_count(sum, "expired"), 1);
	assert_int_equal(smp_audit_summary_exit_status(sum), 2);
	/* render without on_output is refused */
	ao.on_output = NULL;
	smp_audit_summary_free(sum);
	assert_int_equal(smp_audit(s, &ao, &sum, &err), SMP_ERR_USAGE);
	assert_null(sum);
	smp_audit_summary_free(plain);
	smp_session_free(s);
	smp_dir_close(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inspect),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_audit),
		cmocka_unit_test(test_audit_rendered),
		cmocka_unit_test(test_harvest_data),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

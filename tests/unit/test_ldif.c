/* Unit tests: reading LDIF exports (ldapsearch -LLL, ldifde -f) into entries. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "smimepub/dir.h"
#include "smimepub/ldif_in.h"

/* ---- helpers ------------------------------------------------------------------------------ */

/* DER of a PEM certificate in the test PKI. */
static unsigned char *pki_der(const char *name, size_t *len)
{
	const char *dir = getenv("SMIMEPUB_PKI");
	char path[4096];
	FILE *fp;
	X509 *x;
	unsigned char *der = NULL;
	int n;

	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "r");
	assert_non_null(fp);
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(x);
	n = i2d_X509(x, &der);
	assert_true(n > 0);
	X509_free(x);
	*len = (size_t)n;
	return der;
}

/* base64 of data, as one line. */
static char *b64(const void *data, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);

	assert_non_null(out);
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

/* Writes "attr:: base64" folded at width columns (continuations start with one space). */
static void put_folded(FILE *fp, const char *attr, const char *sep, const char *value,
		       size_t width, const char *eol)
{
	char *line = NULL;
	size_t len, pos, take;

	assert_true(asprintf(&line, "%s%s%s", attr, sep, value) > 0);
	len = strlen(line);
	take = len < width ? len : width;
	fwrite(line, 1, take, fp);
	fputs(eol, fp);
	for (pos = take; pos < len; pos += take) {
		take = len - pos < width - 1 ? len - pos : width - 1;
		fputc(' ', fp);
		fwrite(line + pos, 1, take, fp);
		fputs(eol, fp);
	}
	free(line);
}

#define MAX_SEEN 8

struct seen {
	size_t n;
	char *dn[MAX_SEEN];
	char *cn[MAX_SEEN];
	size_t n_mail[MAX_SEEN];
	char *mail0[MAX_SEEN];
	size_t n_proxy[MAX_SEEN];
	char *proxy0[MAX_SEEN];
	size_t n_certs[MAX_SEEN];
	struct berval cert[MAX_SEEN][4];
	char *attr[MAX_SEEN][4];
	size_t n_smime[MAX_SEEN];
	int stop_after;   /* return 7 after this many entries (0 = never) */
};

static int collect(const smp_entry *e, void *ctx)
{
	struct seen *s = ctx;
	size_t i = s->n;

	assert_true(i < MAX_SEEN);
	s->dn[i] = strdup(e->dn);
	s->cn[i] = e->cn ? strdup(e->cn) : NULL;
	s->n_mail[i] = e->n_mail;
	s->mail0[i] = e->n_mail ? strdup(e->mail[0]) : NULL;
	s->n_proxy[i] = e->n_proxy;
	s->proxy0[i] = e->n_proxy ? strdup(e->proxy[0]) : NULL;
	s->n_certs[i] = e->n_certs;
	for (size_t k = 0; k < e->n_certs && k < 4; k++) {
		s->cert[i][k].bv_len = e->certs[k].bv_len;
		s->cert[i][k].bv_val = malloc(e->certs[k].bv_len);
		memcpy(s->cert[i][k].bv_val, e->certs[k].bv_val, e->certs[k].bv_len);
		s->attr[i][k] = strdup(e->cert_attrs[k]);
	}
	s->n_smime[i] = e->n_smime;
	s->n++;
	if (s->stop_after && s->n == (size_t)s->stop_after)
		return 7;
	return 0;
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->dn[i]);
		free(s->cn[i]);
		free(s->mail0[i]);
		free(s->proxy0[i]);
		for (size_t k = 0; k < s->n_certs[i] && k < 4; k++) {
			free(s->cert[i][k].bv_val);
			free(s->attr[i][k]);
		}
	}
	memset(s, 0, sizeof(*s));
}

static int walk_text(struct seen *s, const char *text, smp_error *err)
{
	return smp_ldif_walk_mem(text, strlen(text), collect, s, err);
}

static int same_bytes(const struct berval *bv, const unsigned char *der, size_t len)
{
	return bv->bv_len == len && memcmp(bv->bv_val, der, len) == 0;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_ldapsearch_style(void **state)
{
	size_t alen, blen;
	unsigned char *alice = pki_der("alice.pem", &alen);
	unsigned char *bob = pki_der("bob-ec.pem", &blen);
	char *a64 = b64(alice, alen), *b64v = b64(bob, blen);
	char *text = NULL;
	size_t size = 0;
	FILE *fp = open_memstream(&text, &size);
	struct seen s = { 0 };
	smp_error err = SMP_ERROR_INIT;

	(void)state;
	fputs("# extended LDIF\n#\n# LDAPv3\n\n", fp);
	fputs("dn: cn=Alice Example,ou=partners,dc=example,dc=test\n", fp);
	fputs("objectClass: inetOrgPerson\ncn: Alice Example\nsn: Example\n", fp);
	fputs("mail: alice@partner.example\n", fp);
	fputs("# a comment inside the record\n", fp);
	put_folded(fp, "userCertificate;binary", ":: ", a64, 76, "\n");
	fputs("\n# refldap://example.test/CN=Configuration,DC=example,DC=test\n\n", fp);
	fputs("dn: cn=Bob,ou=partners,dc=example,dc=test\ncn: Bob\n", fp);
	fputs("mail: bob@partner.example\nmail: robert@partner.example\n", fp);
	put_folded(fp, "userCertificate;binary", ":: ", b64v, 76, "\n");
	put_folded(fp, "userCertificate;binary", ":: ", a64, 76, "\n");
	fputs("\n# search result\nsearch: 2\nresult: 0 Success\n\n# numResponses: 3\n", fp);
	fclose(fp);

	assert_int_equal(walk_text(&s, text, &err), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.dn[0], "cn=Alice Example,ou=partners,dc=example,dc=test");
	assert_string_equal(s.cn[0], "Alice Example");
	assert_int_equal(s.n_mail[0], 1);
	assert_string_equal(s.mail0[0], "alice@partner.example");
	assert_int_equal(s.n_certs[0], 1);
	assert_true(same_bytes(&s.cert[0][0], alice, alen));
	assert_string_equal(s.attr[0][0], "userCertificate;binary");
	assert_int_equal(s.n_mail[1], 2);
	assert_int_equal(s.n_certs[1], 2);
	assert_true(same_bytes(&s.cert[1][0], bob, blen));
	assert_true(same_bytes(&s.cert[1][1], alice, alen));

	seen_free(&s);
	free(text);
	free(a64);
	free(b64v);
	OPENSSL_free(alice);
	OPENSSL_free(bob);
}

static void test_ldifde_style(void **state)
{
	size_t alen, blen;
	unsigned char *alice = pki_der("alice.pem", &alen);
	unsigned char *bob = pki_der("bob-ec.pem", &blen);
	char *a64 = b64(alice, alen), *b64v = b64(bob, blen);
	const char *dn = "CN=J\xc3\xb6rg Smith,OU=Contacts,DC=example,DC=test";
	char *dn64 = b64(dn, strlen(dn));
	char *text = NULL;
	size_t size = 0;
	FILE *fp = open_memstream(&text, &size);
	struct seen s = { 0 };
	smp_error err = SMP_ERROR_INIT;

	(void)state;
	fputs("\r\n", fp);
	fprintf(fp, "dn:: %s\r\n", dn64);
	fputs("changetype: add\r\nobjectClass: top\r\nobjectClass: contact\r\n", fp);
	fputs("cn: J\xc3\xb6rg Smith\r\n", fp);
	fputs("proxyAddresses: SMTP:joerg@partner.example\r\n", fp);
	fputs("proxyAddresses: X500:/o=Example/ou=Exchange/cn=Recipients/cn=joerg\r\n", fp);
	put_folded(fp, "usercertificate", ":: ", a64, 78, "\r\n");
	put_folded(fp, "USERCERTIFICATE", ":: ", b64v, 78, "\r\n");
	put_folded(fp, "userSMIMECertificate", ":: ", a64, 78, "\r\n");
	fputs("\r\n", fp);
	fputs("dn: CN=Nobody,OU=Contacts,DC=example,DC=test\r\nchangetype: add\r\n", fp);
	fputs("Mail: nobody@partner.example\r\n", fp);  /* no line end at the end of the file */
	fclose(fp);
	text[strlen(text) - 2] = '\0';

	assert_int_equal(walk_text(&s, text, &err), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.dn[0], dn);
	assert_string_equal(s.cn[0], "J\xc3\xb6rg Smith");
	assert_int_equal(s.n_mail[0], 0);
	assert_int_equal(s.n_proxy[0], 2);
	assert_string_equal(s.proxy0[0], "SMTP:joerg@partner.example");
	assert_int_equal(s.n_certs[0], 2);
	assert_true(same_bytes(&s.cert[0][0], alice, alen));
	assert_true(same_bytes(&s.cert[0][1], bob, blen));
	assert_string_equal(s.attr[0][0], "usercertificate");
	assert_string_equal(s.attr[0][1], "USERCERTIFICATE");
	assert_int_equal(s.n_smime[0], 1);
	assert_int_equal(s.n_mail[1], 1);
	assert_string_equal(s.mail0[1], "nobody@partner.example");
	assert_int_equal(s.n_certs[1], 0);

	seen_free(&s);
	free(text);
	free(a64);
	free(b64v);
	free(dn64);
	OPENSSL_free(alice);
	OPENSSL_free(bob);
}

static void test_both_forms_merged_in_order(void **state)
{
	size_t alen, blen, nlen;
	unsigned char *alice = pki_der("alice.pem", &alen);
	unsigned char *bob = pki_der("bob-ec.pem", &blen);
	unsigned char *newer = pki_der("alice-new.pem", &nlen);
	char *text = NULL;
	char *a = b64(alice, alen), *b = b64(bob, blen), *n = b64(newer, nlen);
	struct seen s = { 0 };
	smp_error err = SMP_ERROR_INIT;

	(void)state;
	assert_true(asprintf(&text, "version: 1\n\ndn: cn=x,dc=test\nuserCertificate:: %s\n"
			     "cn: x\nuserCertificate;binary:: %s\nUserCertificate;Binary:: %s\n",
			     n, a, b) > 0);
	assert_int_equal(walk_text(&s, text, &err), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.n_certs[0], 3);
	assert_true(same_bytes(&s.cert[0][0], newer, nlen));
	assert_true(same_bytes(&s.cert[0][1], alice, alen));
	assert_true(same_bytes(&s.cert[0][2], bob, blen));
	assert_string_equal(s.attr[0][0], "userCertificate");
	assert_string_equal(s.attr[0][1], "userCertificate;binary");
	assert_string_equal(s.attr[0][2], "UserCertificate;Binary");

	seen_free(&s);
	free(text);
	free(a);
	free(b);
	free(n);
	OPENSSL_free(alice);
	OPENSSL_free(bob);
	OPENSSL_free(newer);
}

static void expect_bad(const char *text, const char *needle)
{
	struct seen s = { 0 };
	smp_error err = SMP_ERROR_INIT;

	assert_int_equal(walk_text(&s, text, &err), SMP_ERR_BADINPUT);
	assert_int_equal(err.code, SMP_ERR_BADINPUT);
	if (strstr(err.msg, needle) == NULL)
		fail_msg("message '%s' does not contain '%s'", err.msg, needle);
	seen_free(&s);
}

static void test_malformed_line_numbers(void **state)
{
	(void)state;
	expect_bad("dn: cn=a,dc=test\nmail: a@b.example\n\n# c\ndn: cn=b,dc=test\n"
		   "this line has no colon\n", "line 6: missing ':'");
	expect_bad("dn: cn=a,dc=test\r\ncn: a\r\nuserCertificate:: !!!notbase64***\r\n",
		   "line 3: invalid base64 character 0x21 in the value of 'userCertificate'");
	expect_bad("dn: cn=a,dc=test\nuserCertificate:: QUFB=QUFB\n",
		   "line 2: invalid value of 'userCertificate'");
	expect_bad(" continued\n", "line 1: continuation line");
	expect_bad("\n\ncn: no dn here\n", "line 3: expected 'dn:'");
	expect_bad("dn: cn=a,dc=test\nchangetype: modify\nreplace: mail\nmail: x@y.example\n-\n",
		   "line 2: 'changetype: modify' is a change");
	expect_bad("dn: cn=a,dc=test\nmail: a@b.example\n\ndn: cn=b,dc=test\nmail: b@b.example\n"
		   ":: QUFB\n", "line 6: missing attribute name");
	/* the line number counts folded lines too */
	expect_bad("dn: cn=a,\n dc=test\ncn: folded\n  twice\nbroken\n", "line 5:");
}

static void test_url_values_refused(void **state)
{
	(void)state;
	expect_bad("dn: cn=a,dc=test\nuserCertificate;binary:< file:///etc/passwd\n",
		   "line 2: value of 'userCertificate;binary' is a URL");
	expect_bad("dn: cn=a,dc=test\nmail :<file:///etc/shadow\n", "URL");
}

static void test_include_not_followed(void **state)
{
	(void)state;
	/* libldap's ldif_read_record would open the file; here it is an ordinary bad record */
	expect_bad("include: file:///etc/passwd\n\n", "line 1: expected 'dn:'");
}

static void test_encodings(void **state)
{
	struct seen s = { 0 };
	smp_error err = SMP_ERROR_INIT;
	const char bom8[] = "\xef\xbb\xbf" "dn: cn=a,dc=test\nmail: a@b.example\n";
	const char bom16[] = "\xff\xfe" "d\0n\0:\0";
	const char nul[] = "dn: cn=a,dc=test\nmail: a@b\0.example\n";

	(void)state;
	assert_int_equal(walk_text(&s, bom8, &err), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.dn[0], "cn=a,dc=test");
	seen_free(&s);

	assert_int_equal(smp_ldif_walk_mem(bom16, sizeof(bom16) - 1, collect, &s, &err),
			 SMP_ERR_BADINPUT);
	assert_non_null(strstr(err.msg, "UTF-16"));
	assert_int_equal(s.n, 0);

	assert_int_equal(smp_ldif_walk_mem(nul, sizeof(nul) - 1, collect, &s, &err),
			 SMP_ERR_BADINPUT);
	assert_non_null(strstr(err.msg, "line 2: NUL"));
	seen_free(&s);

	/* a base64 value with a NUL is not taken as an address; the entry still comes */
	assert_int_equal(walk_text(&s, "dn: cn=a,dc=test\nmail:: ZXZpbEBwYXJ0bmVyLmV4YW1wbGUA"
				   "LmF0dGFja2VyLnRlc3Q=\nmail: ok@partner.example\n", &err), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.n_mail[0], 1);
	assert_string_equal(s.mail0[0], "ok@partner.example");
	seen_free(&s);

	/* spaces after a base64 value are not part of it */
	assert_int_equal(walk_text(&s, "dn: cn=a,dc=test\nmail:: YUBiLmV4YW1wbGU=  \n", &err), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.mail0[0], "a@b.example");
	seen_free(&s);

	/* empty input and comments only: no entry, no error */
	assert_int_equal(smp_ldif_walk_mem("", 0, collect, &s, &err), 0);
	assert_int_equal(walk_text(&s, "# nothing\n#  here\n\n\n", &err), 0);
	assert_int_equal(s.n, 0);
}

static void test_callback_stops_walk(void **state)
{
	struct seen s = { 0 };
	smp_error err = SMP_ERROR_INIT;

	(void)state;
	s.stop_after = 1;
	assert_int_equal(walk_text(&s, "dn: cn=a,dc=test\n\ndn: cn=b,dc=test\n\n"
				   "dn: cn=c,dc=test\n", &err), 7);
	assert_int_equal(s.n, 1);
	seen_free(&s);
}

static void test_file_and_stdin(void **state)
{
	char path[] = "/tmp/smimepub-ldif-XXXXXX";
	int fd = mkstemp(path);
	const char *text = "dn: cn=a,dc=test\r\nmail: a@b.example\r\n\r\ndn: cn=b,dc=test\r\n"
			   "broken line\r\n";
	struct seen s = { 0 };
	smp_error err = SMP_ERROR_INIT;
	char expect[200];

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);

	assert_int_equal(smp_ldif_walk(path, collect, &s, &err), SMP_ERR_BADINPUT);
	snprintf(expect, sizeof(expect), "'%s' line 5: missing ':' after the attribute name", path);
	assert_string_equal(err.msg, expect);
	assert_int_equal(s.n, 1);
	seen_free(&s);

	assert_non_null(freopen(path, "rb", stdin));
	assert_int_equal(smp_ldif_walk("-", collect, &s, &err), SMP_ERR_BADINPUT);
	assert_non_null(strstr(err.msg, "'standard input' line 5"));
	seen_free(&s);

	unlink(path);
	assert_int_equal(smp_ldif_walk(path, collect, &s, &err), SMP_ERR_NOFILE);
	assert_non_null(strstr(err.msg, path));
}

struct big {
	size_t heap_at_1000;
	size_t heap_at_end;
	size_t entries;
	size_t certs;
	size_t bad_bytes;
	size_t alen;
	const unsigned char *alice;
};

static int count_big(const smp_entry *e, void *ctx)
{
	struct big *b = ctx;

	b->entries++;
	if (b->entries == 1000)
		b->heap_at_1000 = mallinfo2().uordblks;
	if (b->entries == 20000)
		b->heap_at_end = mallinfo2().uordblks;
	b->certs += e->n_certs;
	for (size_t i = 0; i < e->n_certs; i++)
		if (!same_bytes(&e->certs[i], b->alice, b->alen))
			b->bad_bytes++;
	if (e->n_mail != 1 || strncmp(e->mail[0], "user", 4) != 0)
		b->bad_bytes++;
	return 0;
}

static void test_streaming_20000_entries(void **state)
{
	char path[] = "/tmp/smimepub-ldif-big-XXXXXX";
	int fd = mkstemp(path);
	FILE *fp;
	size_t alen;
	unsigned char *alice = pki_der("alice.pem", &alen);
	char *a64 = b64(alice, alen);
	struct big b = { 0 };
	smp_error err = SMP_ERROR_INIT;

	(void)state;
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	assert_non_null(fp);
	for (int i = 0; i < 20000; i++) {
		fprintf(fp, "dn: cn=user%d,ou=partners,dc=example,dc=test\n", i);
		fprintf(fp, "objectClass: inetOrgPerson\ncn: user%d\nmail: user%d@partner.example\n",
			i, i);
		put_folded(fp, "userCertificate;binary", ":: ", a64, 76, "\n");
		fputs("\n", fp);
	}
	fclose(fp);

	b.alice = alice;
	b.alen = alen;
	assert_int_equal(smp_ldif_walk(path, count_big, &b, &err), 0);
	assert_int_equal(b.entries, 20000);
	assert_int_equal(b.certs, 20000);
	assert_int_equal(b.bad_bytes, 0);
	/* one record at a time: the heap does not grow with the entries read */
	assert_true(b.heap_at_end < b.heap_at_1000 + 64 * 1024);

	unlink(path);
	free(a64);
	OPENSSL_free(alice);
}

static smp_entry *make_entry(const char *const *mail, const char *const *proxy)
{
	smp_entry *e = calloc(1, sizeof(*e));
	size_t n;

	assert_non_null(e);
	e->dn = strdup("cn=x,dc=test");
	for (n = 0; mail && mail[n]; n++)
		;
	e->mail = calloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		e->mail[i] = strdup(mail[i]);
	e->n_mail = n;
	for (n = 0; proxy && proxy[n]; n++)
		;
	e->proxy = calloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		e->proxy[i] = strdup(proxy[i]);
	e->n_proxy = n;
	return e;
}

static void test_entry_has_address(void **state)
{
	const char *mail[] = { "Alice@Partner.Example", NULL };
	const char *proxy[] = { "SMTP:alice@partner.example", "smtp:ali@partner.example",
				"X500:/o=x/cn=bob@partner.example", "bob@partner.example", NULL };
	smp_entry *e = make_entry(mail, proxy);
	smp_entry **v;

	(void)state;
	assert_int_equal(smp_entry_has_address(e, "alice@partner.example"), 2);
	assert_int_equal(smp_entry_has_address(e, "alice@PARTNER.example"), 2);
	assert_int_equal(smp_entry_has_address(e, "ali@partner.example"), 1);
	assert_int_equal(smp_entry_has_address(e, "bob@partner.example"), 0);
	assert_int_equal(smp_entry_has_address(e, "carol@partner.example"), 0);
	assert_int_equal(smp_entry_has_address(e, "not an address"), 0);

	v = calloc(2, sizeof(*v));
	v[0] = e;
	v[1] = make_entry(NULL, NULL);
	smp_entries_free(v, 2);
	smp_entry_free(NULL);
}

/* Writes text to a new file made from the mkstemp template path (filled in). */
static void write_temp(char *path, const char *text)
{
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static int add_address(const char *addr, int how, void *ctx)
{
	char *list = ctx;

	snprintf(list + strlen(list), 256 - strlen(list), "%d:%s ", how, addr);
	return strcmp(addr, "stop@partner.example") == 0 ? 5 : 0;
}

static void test_entry_each_address_and_dup(void **state)
{
	const char *mail[] = { "Alice@Partner.EXAMPLE", "not an address", NULL };
	const char *proxy[] = { "X500:/o=x", "SMTP:a.b@xn--bcher-kva.example",
				"smtp:c@b\xc3\xbc" "cher.example", "stop@partner.example",
				"smtp:stop@partner.example", "smtp:after@partner.example", NULL };
	smp_entry *e = make_entry(mail, proxy), *c = NULL;
	char list[256] = "";

	(void)state;
	assert_int_equal(smp_entry_each_address(e, add_address, list), 5);
	assert_string_equal(list, "2:Alice@partner.example 1:a.b@xn--bcher-kva.example "
			    "1:c@xn--bcher-kva.example 1:stop@partner.example ");

	e->cn = strdup("Alice");
	e->certs = calloc(2, sizeof(*e->certs));
	e->cert_attrs = calloc(2, sizeof(*e->cert_attrs));
	e->certs[0].bv_val = malloc(3);
	memcpy(e->certs[0].bv_val, "\x30\x00\x01", 3);
	e->certs[0].bv_len = 3;
	e->cert_attrs[0] = strdup("userCertificate;binary");
	e->n_certs = 1;
	assert_int_equal(smp_entry_dup(&c, e), 0);
	assert_ptr_not_equal(c->mail, e->mail);
	assert_string_equal(c->dn, e->dn);
	assert_string_equal(c->cn, "Alice");
	assert_int_equal(c->n_mail, 2);
	assert_string_equal(c->mail[1], "not an address");
	assert_null(c->mail[2]);
	assert_int_equal(c->n_proxy, 6);
	assert_string_equal(c->proxy[5], "smtp:after@partner.example");
	assert_int_equal(c->n_certs, 1);
	assert_true(same_bytes(&c->certs[0], (const unsigned char *)"\x30\x00\x01", 3));
	assert_string_equal(c->cert_attrs[0], "userCertificate;binary");
	assert_int_equal(c->n_smime, 0);
	smp_entry_free(e);
	assert_int_equal(smp_entry_has_address(c, "alice@partner.example"), 2);
	smp_entry_free(c);
}

static void test_walk_origin(void **state)
{
	char path[] = "/tmp/smimepub-ldif-origin-XXXXXX";
	struct seen s = { 0 };
	smp_error err = SMP_ERROR_INIT;
	const char *ad = "x";

	(void)state;
	write_temp(path, "dn: CN=A,DC=test\r\nchangetype: add\r\nmail: a@b.example\r\n"
		   "objectguid:: AAECAwQFBgcICQoLDA0ODw==\r\nobjectCategory: CN=Person\r\n\r\n");
	assert_int_equal(smp_ldif_walk_origin(path, collect, &s, &ad, &err), 0);
	assert_string_equal(ad, "objectGUID");
	assert_int_equal(s.n, 1);
	seen_free(&s);
	unlink(path);

	strcpy(path, "/tmp/smimepub-ldif-origin-XXXXXX");
	write_temp(path, "dn: cn=a,dc=test\nobjectClass: contact\nproxyAddresses: SMTP:a@b.example\n"
		   "objectGUIDs: not one\n");
	assert_int_equal(smp_ldif_walk_origin(path, collect, &s, &ad, &err), 0);
	assert_null(ad);
	seen_free(&s);
	unlink(path);
}

/* The DNs smp_dir_find_by_address returns for addr, ';'-separated. */
static char *found(smp_dir *d, const char *addr)
{
	smp_entry **v = NULL;
	size_t n = 0;
	smp_error err = SMP_ERROR_INIT;
	char *out = calloc(1, 1024);

	assert_int_equal(smp_dir_find_by_address(d, addr, &v, &n, &err), 0);
	for (size_t i = 0; i < n; i++)
		snprintf(out + strlen(out), 1024 - strlen(out), "%s%s", i ? ";" : "", v[i]->dn);
	if (n > 0)
		assert_null(v[n]);
	smp_entries_free(v, n);
	return out;
}

#define ASSERT_FOUND(d, addr, expect) do { char *f_ = found(d, addr); \
	assert_string_equal(f_, expect); free(f_); } while (0)

struct offsets {
	uint64_t at[8];
	char *dn[8];
	size_t n;
};

static int note_offset(const smp_entry *e, uint64_t offset, void *ctx)
{
	struct offsets *o = ctx;

	assert_true(o->n < 8);
	o->at[o->n] = offset;
	o->dn[o->n++] = strdup(e->dn);
	return 0;
}

/*
 * Each entry is found again at the offset the walk gave (BOM, CRLF, comments, a folded and a
 * base64 DN before it); an offset inside a record, past the end, or in a file that changed
 * is refused, also through a directory opened on the export.
 */
static void test_read_at(void **state)
{
	char path[] = "/tmp/smimepub-ldif-at-XXXXXX";
	struct offsets o = { { 0 }, { NULL }, 0 };
	smp_error err = SMP_ERROR_INIT;
	const char *ad = "x";
	smp_entry *e = NULL, **v = NULL;
	smp_dir *d = NULL;
	size_t n = 0;
	FILE *fp;

	(void)state;
	write_temp(path, "\xef\xbb\xbfversion: 1\r\n\r\n# cn=A\r\ndn: cn=A,dc=test\r\n"
		   "mail: a@x.example\r\nuserCertificate;binary:: MAA=\r\n\r\n"
		   "# folded\ndn: cn=Bee Folded,\n dc=test\nmail: b@x.example\n\n"
		   "dn:: Y249Q2VlLGRjPXRlc3Q=\nmail: c@x.example\nobjectGUID:: AAAA\n");
	fp = fopen(path, "rb");
	assert_non_null(fp);
	assert_int_equal(smp_ldif_walk_stream(fp, path, note_offset, &o, &ad, &err), 0);
	assert_int_equal(o.n, 3);
	assert_string_equal(ad, "objectGUID");
	assert_string_equal(o.dn[1], "cn=Bee Folded,dc=test");
	assert_string_equal(o.dn[2], "cn=Cee,dc=test");
	for (size_t i = o.n; i-- > 0;) {
		assert_int_equal(smp_ldif_read_at(fp, path, o.at[i], &e, &err), 0);
		assert_string_equal(e->dn, o.dn[i]);
		assert_int_equal(e->n_mail, 1);
		assert_int_equal(e->n_certs, i == 0 ? 1 : 0);
		smp_entry_free(e);
	}
	assert_int_equal(smp_ldif_read_at(fp, path, o.at[0] + 3, &e, &err), SMP_ERR_BADINPUT);
	assert_null(e);
	assert_int_equal(smp_ldif_read_at(fp, path, o.at[2] + 400, &e, &err), SMP_ERR_BADINPUT);
	assert_non_null(strstr(err.msg, "changed"));
	assert_int_equal(smp_ldif_read_at(fp, path, UINT64_MAX, &e, &err), SMP_ERR_BADINPUT);
	fclose(fp);

	/* a directory on the export reads entries again when asked: a changed file is an error */
	assert_int_equal(smp_dir_open_ldif(&d, path, SMP_SCHEMA_AUTO, NULL, &err), 0);
	assert_int_equal(smp_dir_find_by_address(d, "c@x.example", &v, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0]->dn, "cn=Cee,dc=test");
	smp_entries_free(v, n);
	assert_int_equal(truncate(path, (off_t)o.at[2]), 0);
	v = NULL;
	assert_int_equal(smp_dir_find_by_address(d, "c@x.example", &v, &n, &err), SMP_ERR_BADINPUT);
	assert_non_null(strstr(err.msg, "changed"));
	assert_null(v);
	assert_int_equal(smp_dir_read(d, "cn=A,dc=test", &e, &err), 0);
	smp_entry_free(e);
	smp_dir_close(d);
	for (size_t i = 0; i < o.n; i++)
		free(o.dn[i]);
	unlink(path);
}

static int count_walk(const smp_entry *e, void *ctx)
{
	(void)e;
	return ++*(int *)ctx == 99 ? 1 : 0;
}

static void test_dir_open_ldif(void **state)
{
	char path[] = "/tmp/smimepub-ldif-dir-XXXXXX";
	smp_dir *d = NULL;
	smp_entry *e = NULL, **v = NULL;
	smp_error err = SMP_ERROR_INIT;
	smp_change ch = { "userCertificate;binary", NULL, 0, NULL, 0 };
	struct berval val = { 3, "abc" };
	char *dn = NULL;
	int walked = 0, msgid;
	size_t n;

	(void)state;
	write_temp(path,
		   "# ldapsearch\n"
		   "dn: ou=partners,dc=example,dc=test\nobjectClass: organizationalUnit\n\n"
		   "dn: cn=Alice,ou=partners,dc=example,dc=test\nmail: Alice@Partner.Example\n"
		   "proxyAddresses: smtp:alice@partner.example\nuserCertificate;binary:: MAA=\n\n"
		   "dn: cn=Al,ou=partners,dc=example,dc=test\nproxyAddresses: SMTP:ALICE@partner.example\n\n"
		   "dn: cn=Bob\\, Jr.,ou=staff,dc=example,dc=test\nmail: bob@partner.example\n"
		   "userSMIMECertificate:: MAA=\n\n");
	assert_int_equal(smp_dir_open_ldif(&d, path, SMP_SCHEMA_AUTO, NULL, &err), 0);
	assert_string_equal(smp_dir_profile(d)->name, "rfc");
	assert_string_equal(smp_dir_base(d), "dc=example,dc=test");
	assert_string_equal(smp_dir_uri(d), path);
	/* proxyAddresses but nothing only AD has: the guess is said */
	assert_non_null(smp_dir_warning(d));
	assert_int_equal(smp_dir_warning_hint(d), SMP_HINT_SCHEMA_AD);
	assert_null(strstr(smp_dir_warning(d), "--"));

	/* mail or smtp: proxy, any case, each entry once, in file order */
	ASSERT_FOUND(d, "alice@partner.example",
		     "cn=Alice,ou=partners,dc=example,dc=test;cn=Al,ou=partners,dc=example,dc=test");
	ASSERT_FOUND(d, "ALICE@partner.example",
		     "cn=Alice,ou=partners,dc=example,dc=test;cn=Al,ou=partners,dc=example,dc=test");
	ASSERT_FOUND(d, "bob@partner.example", "cn=Bob\\, Jr.,ou=staff,dc=example,dc=test");
	ASSERT_FOUND(d, "carol@partner.example", "");
	ASSERT_FOUND(d, "*", "");

	/* DNs compare normalised */
	assert_int_equal(smp_dir_read(d, "CN=alice , OU=Partners,DC=example,DC=test", &e, &err), 0);
	assert_string_equal(e->dn, "cn=Alice,ou=partners,dc=example,dc=test");
	assert_int_equal(e->n_certs, 1);
	assert_string_equal(e->cert_attrs[0], "userCertificate;binary");
	smp_entry_free(e);
	e = NULL;
	assert_int_equal(smp_dir_read(d, "cn=Bob\\2C Jr.,ou=staff,dc=example,dc=test", &e, &err), 0);
	assert_int_equal(e->n_smime, 1);
	smp_entry_free(e);
	e = NULL;
	assert_int_equal(smp_dir_read(d, "cn=Carol,ou=partners,dc=example,dc=test", &e, &err),
			 SMP_ERR_NOTFOUND);
	assert_null(e);
	assert_int_equal(smp_dir_last_result(d), 32);  /* LDAP_NO_SUCH_OBJECT */
	assert_int_equal(smp_dir_read(d, "not a DN", &e, &err), SMP_ERR_NOTFOUND);

	/* walk: the entries holding a certificate */
	assert_int_equal(smp_dir_walk(d, count_walk, NULL, &walked, &err), 0);
	assert_int_equal(walked, 2);

	/* read-only */
	ch.add = &val;
	ch.n_add = 1;
	assert_int_equal(smp_dir_modify(d, "cn=Al,ou=partners,dc=example,dc=test", &ch, 1, &err),
			 SMP_ERR_USAGE);
	assert_non_null(strstr(err.msg, "read-only"));
	assert_int_equal(smp_dir_create_contact(d, NULL, "New", "new@partner.example", &dn, &err),
			 SMP_ERR_USAGE);
	assert_null(dn);
	assert_int_equal(smp_dir_modify_send(d, "cn=Al,ou=partners,dc=example,dc=test", &ch, 1,
					     &msgid, &err), SMP_ERR_USAGE);
	assert_int_equal(smp_dir_reconnect(d, &err), SMP_ERR_USAGE);
	assert_null(smp_dir_ldap(d));
	/* not Active Directory: no referral is to an AD partition */
	assert_false(smp_dir_referral_is_ad_partition(
		d, "ldap://example.test/CN=Configuration,DC=example,DC=test"));
	smp_dir_close(d);
	d = NULL;

	/* -b limits the address search; schema given */
	assert_int_equal(smp_dir_open_ldif(&d, path, SMP_SCHEMA_AD, "OU=Partners, DC=example,DC=test",
					   &err), 0);
	assert_string_equal(smp_dir_profile(d)->name, "ad");
	assert_null(smp_dir_warning(d));
	/* AD's configuration and DNS partitions hold no recipients; anything else may */
	assert_true(smp_dir_referral_is_ad_partition(
		d, "ldap://example.test/CN=Configuration,DC=example,DC=test"));
	assert_true(smp_dir_referral_is_ad_partition(
		d, "ldap://example.test/cn=configuration,dc=example,dc=test??sub"));
	assert_true(smp_dir_referral_is_ad_partition(
		d, "ldap://DomainDnsZones.example.test/DC=DomainDnsZones,DC=example,DC=test"));
	assert_true(smp_dir_referral_is_ad_partition(
		d, "ldap://ForestDnsZones.example.test/DC=ForestDnsZones,DC=example,DC=test"));
	assert_false(smp_dir_referral_is_ad_partition(
		d, "ldap://child.example.test/DC=child,DC=example,DC=test"));
	assert_false(smp_dir_referral_is_ad_partition(
		d, "ldap://example.test/OU=Configuration,DC=example,DC=test"));
	assert_false(smp_dir_referral_is_ad_partition(
		d, "ldap://example.test/CN=Configuration2,DC=example,DC=test"));
	assert_false(smp_dir_referral_is_ad_partition(
		d, "ldap://example.test/CN=Contacts,CN=Configuration,DC=example,DC=test"));
	assert_false(smp_dir_referral_is_ad_partition(d, "ldap://example.test/CN=Configuration"));
	assert_false(smp_dir_referral_is_ad_partition(
		d, "ldap://example.test/CN=Configuration+OU=x,DC=example,DC=test"));
	assert_false(smp_dir_referral_is_ad_partition(d, "not a URL"));
	assert_false(smp_dir_referral_is_ad_partition(d, NULL));
	assert_false(smp_dir_referral_is_ad_partition(NULL, "ldap://example.test/"));
	assert_string_equal(smp_dir_base(d), "OU=Partners, DC=example,DC=test");
	ASSERT_FOUND(d, "bob@partner.example", "");
	ASSERT_FOUND(d, "alice@partner.example",
		     "cn=Alice,ou=partners,dc=example,dc=test;cn=Al,ou=partners,dc=example,dc=test");
	walked = 0;
	assert_int_equal(smp_dir_walk(d, count_walk, NULL, &walked, &err), 0);
	assert_int_equal(walked, 1);
	smp_dir_close(d);
	d = NULL;
	assert_int_equal(smp_dir_open_ldif(&d, path, SMP_SCHEMA_AUTO, "not a DN", &err),
			 SMP_ERR_USAGE);
	assert_null(d);
	unlink(path);

	/* a lone entry with an address: its parent is the base; objectGUID: AD */
	strcpy(path, "/tmp/smimepub-ldif-dir-XXXXXX");
	write_temp(path, "dn: CN=Alice,OU=Partners,DC=example,DC=test\r\nchangetype: add\r\n"
		   "mail: alice@partner.example\r\nobjectGUID:: AAECAwQFBgcICQoLDA0ODw==\r\n\r\n");
	assert_int_equal(smp_dir_open_ldif(&d, path, SMP_SCHEMA_AUTO, NULL, &err), 0);
	assert_string_equal(smp_dir_profile(d)->name, "ad");
	assert_string_equal(smp_dir_base(d), "OU=Partners,DC=example,DC=test");
	assert_int_equal(smp_dir_find_by_address(d, "alice@partner.example", &v, &n, &err), 0);
	assert_int_equal(n, 1);
	smp_entries_free(v, n);
	smp_dir_close(d);
	d = NULL;
	unlink(path);

	/* errors: missing file, malformed LDIF, an entry whose DN is not one; empty export */
	assert_int_equal(smp_dir_open_ldif(&d, path, SMP_SCHEMA_AUTO, NULL, &err), SMP_ERR_NOFILE);
	strcpy(path, "/tmp/smimepub-ldif-dir-XXXXXX");
	write_temp(path, "dn: cn=a,dc=test\nbroken\n");
	assert_int_equal(smp_dir_open_ldif(&d, path, SMP_SCHEMA_AUTO, NULL, &err), SMP_ERR_BADINPUT);
	assert_non_null(strstr(err.msg, "line 2"));
	unlink(path);
	strcpy(path, "/tmp/smimepub-ldif-dir-XXXXXX");
	write_temp(path, "dn: cn=a,dc=test\n\ndn: no DN here\nmail: a@b.example\n");
	assert_int_equal(smp_dir_open_ldif(&d, path, SMP_SCHEMA_AUTO, NULL, &err), SMP_ERR_BADINPUT);
	assert_non_null(strstr(err.msg, "'dn: no DN here': not a valid DN"));
	assert_null(d);
	unlink(path);
	strcpy(path, "/tmp/smimepub-ldif-dir-XXXXXX");
	write_temp(path, "# nothing\n");
	assert_int_equal(smp_dir_open_ldif(&d, path, SMP_SCHEMA_AUTO, NULL, &err), 0);
	assert_string_equal(smp_dir_base(d), "");
	ASSERT_FOUND(d, "alice@partner.example", "");
	smp_dir_close(d);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ldapsearch_style),
		cmocka_unit_test(test_ldifde_style),
		cmocka_unit_test(test_both_forms_merged_in_order),
		cmocka_unit_test(test_malformed_line_numbers),
		cmocka_unit_test(test_url_values_refused),
		cmocka_unit_test(test_include_not_followed),
		cmocka_unit_test(test_encodings),
		cmocka_unit_test(test_callback_stops_walk),
		cmocka_unit_test(test_file_and_stdin),
		cmocka_unit_test(test_streaming_20000_entries),
		cmocka_unit_test(test_entry_has_address),
		cmocka_unit_test(test_entry_each_address_and_dup),
		cmocka_unit_test(test_walk_origin),
		cmocka_unit_test(test_dir_open_ldif),
		cmocka_unit_test(test_read_at),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

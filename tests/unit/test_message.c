/*
 * Unit tests for signed-mail intake. Fixtures are made at test time by make-mail.sh with the
 * openssl CLI (and gpgsm when installed) from the test PKI in $SMIMEPUB_PKI; messages with an
 * SMIMEEncryptionKeyPreference attribute are built here with OpenSSL's CMS API.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "pref_attr.h"
#include "smimepub/message.h"

static char tmpdir[] = "/tmp/smp-message-XXXXXX";
static const char *pki;

static char *path_in(const char *dir, const char *name)
{
	char *p = NULL;

	assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

static char *fixture(const char *name)
{
	return path_in(tmpdir, name);
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	unsigned char *buf;
	long n;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n >= 0);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

static X509 *load_cert(const char *name)
{
	char *p = path_in(pki, name);
	FILE *fp = fopen(p, "r");
	X509 *x;

	assert_non_null(fp);
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	assert_non_null(x);
	fclose(fp);
	free(p);
	return x;
}

static EVP_PKEY *load_key(const char *name)
{
	char *p = path_in(pki, name);
	FILE *fp = fopen(p, "r");
	EVP_PKEY *k;

	assert_non_null(fp);
	k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	assert_non_null(k);
	fclose(fp);
	free(p);
	return k;
}

/* The certificate's CN, in a static buffer ("" for NULL). */
static const char *cn(X509 *x)
{
	static char buf[256];

	buf[0] = '\0';
	if (x != NULL)
		X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, sizeof(buf));
	return buf;
}

static smp_message *parse_mem(const unsigned char *data, size_t len)
{
	smp_error err = SMP_ERROR_INIT;
	smp_message *m = NULL;

	assert_int_equal(smp_message_parse(&m, data, len, "mem.eml", &err), 0);
	assert_non_null(m);
	assert_non_null(m->carried);
	return m;
}

static smp_message *parse_fixture(const char *name)
{
	char *p = fixture(name);
	size_t len;
	unsigned char *data = slurp(p, &len);
	smp_error err = SMP_ERROR_INIT;
	smp_message *m = NULL;

	assert_int_equal(smp_message_parse(&m, data, len, p, &err), 0);
	assert_non_null(m);
	assert_string_equal(m->file, p);
	free(data);
	free(p);
	return m;
}

static int carries(const smp_message *m, const char *common_name)
{
	for (int i = 0; i < sk_X509_num(m->carried); i++)
		if (strcmp(cn(sk_X509_value(m->carried, i)), common_name) == 0)
			return 1;
	return 0;
}

/* Every message a reader produced, summarised. */
struct seen {
	size_t n;
	smp_msg_kind kind[16];
	size_t index[16];
	char file[16][512];
	char from[16][128];
	int n_ok[16];
	int stop_after;       /* return 7 after this many messages (0: never) */
};

static int collect(const smp_message *m, void *ctx)
{
	struct seen *s = ctx;
	int ok = 0;

	assert_true(s->n < 16);
	s->kind[s->n] = m->kind;
	s->index[s->n] = m->index;
	snprintf(s->file[s->n], sizeof(s->file[0]), "%s", m->file);
	snprintf(s->from[s->n], sizeof(s->from[0]), "%s", m->from != NULL ? m->from : "");
	for (size_t i = 0; i < m->n_signers; i++)
		ok += m->signers[i].signature_ok;
	s->n_ok[s->n] = ok;
	s->n++;
	if (s->stop_after != 0 && s->n == (size_t)s->stop_after)
		return 7;
	return 0;
}

static void assert_alice_ok(const smp_message *m)
{
	assert_int_equal(m->kind, SMP_MSG_SIGNED);
	assert_int_equal(m->n_signers, 1);
	assert_true(m->signers[0].signature_ok);
	assert_null(m->signers[0].error);
	assert_string_equal(cn(m->signers[0].cert), "Alice Example");
	assert_null(m->signers[0].encryption_cert);
	assert_string_equal(m->from, "alice@partner.example");
	assert_string_equal(m->signers[0].from, "alice@partner.example");
	assert_null(m->problem);
}

/* ---- multipart/signed --------------------------------------------------------------------- */

static void test_multipart_signed_line_ends(void **state)
{
	static const char *const names[] = { "smime-lf.eml", "smime-crlf.eml", "cms-lf.eml",
					      "cms-crlf.eml" };

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *p = fixture(names[i]);
		size_t len;
		unsigned char *raw = slurp(p, &len);
		int crlf = strstr(names[i], "crlf") != NULL;
		smp_message *m;

		/* the fixture is what its name says */
		assert_int_equal(strstr((char *)raw, "\r\n") != NULL, crlf);
		assert_non_null(strstr((char *)raw, names[i][0] == 's' ?
				       "application/x-pkcs7-signature" : "application/pkcs7-signature"));
		m = parse_fixture(names[i]);
		assert_alice_ok(m);
		assert_string_equal(m->message_id, names[i][0] == 's' ? "smime@test.example" :
				    "cms@test.example");
		assert_string_equal(m->subject, names[i][0] == 's' ? "Signed x" : "Signed cms");
		/* the intermediate travels in the message */
		assert_int_equal(sk_X509_num(m->carried), 2);
		assert_true(carries(m, "Test Issuing CA 1"));
		assert_true(carries(m, "Alice Example"));
		smp_message_free(m);
		free(raw);
		free(p);
	}
}

static void test_untrusted_ca_signature_ok(void **state)
{
	smp_message *m = parse_fixture("untrusted.eml");

	(void)state;
	assert_int_equal(m->kind, SMP_MSG_SIGNED);
	assert_int_equal(m->n_signers, 1);
	assert_true(m->signers[0].signature_ok);
	assert_string_equal(cn(m->signers[0].cert), "Ursula Untrusted");
	assert_true(carries(m, "Partner Issuing CA 2"));
	smp_message_free(m);
}

static void test_two_signers(void **state)
{
	smp_message *m = parse_fixture("two-signers.eml");
	int alice = 0, bob = 0;

	(void)state;
	assert_int_equal(m->kind, SMP_MSG_SIGNED);
	assert_int_equal(m->n_signers, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_true(m->signers[i].signature_ok);
		alice += strcmp(cn(m->signers[i].cert), "Alice Example") == 0;
		bob += strcmp(cn(m->signers[i].cert), "Bob Example") == 0;
	}
	assert_int_equal(alice, 1);
	assert_int_equal(bob, 1);
	smp_message_free(m);
}

/* ---- tampering ---------------------------------------------------------------------------- */

static void test_tampered_body_is_bad(void **state)
{
	smp_message *m = parse_fixture("tampered-body.eml");

	(void)state;
	assert_int_equal(m->kind, SMP_MSG_SIGNED);
	assert_int_equal(m->n_signers, 1);
	assert_false(m->signers[0].signature_ok);
	assert_non_null(m->signers[0].error);
	/* the certificate is still reported (as "bad"), never dropped silently */
	assert_string_equal(cn(m->signers[0].cert), "Alice Example");
	smp_message_free(m);
}

static void test_tampered_signature_is_bad(void **state)
{
	char *p = fixture("smime-lf.eml");
	size_t len;
	unsigned char *raw = slurp(p, &len);
	char *end, *at;
	smp_message *m;

	(void)state;
	/* the base64 just before the closing boundary encodes the end of the signature value */
	end = strstr((char *)raw, "\n\n------");
	for (char *next; end != NULL && (next = strstr(end + 1, "\n\n------")) != NULL;)
		end = next;
	assert_non_null(end);
	at = end - 30;
	while (*at == '\n' || *at == '=')
		at--;
	*at = *at == 'A' ? 'B' : 'A';
	m = parse_mem(raw, len);
	assert_int_equal(m->kind, SMP_MSG_SIGNED);
	assert_int_equal(m->n_signers, 1);
	assert_false(m->signers[0].signature_ok);
	assert_non_null(m->signers[0].error);
	smp_message_free(m);
	free(raw);
	free(p);
}

/* Flipping any byte of the signed text must never leave a signature that verifies. */
static void test_bit_flips(void **state)
{
	char *p = fixture("cms-lf.eml");
	size_t len;
	unsigned char *raw = slurp(p, &len);
	const char *body = strstr((char *)raw, "Hello Bob");
	const char *body_end = strstr((char *)raw, "Regards, Alice");
	size_t lo, hi;

	(void)state;
	assert_non_null(body);
	assert_non_null(body_end);
	lo = (size_t)(body - (char *)raw);
	hi = (size_t)(body_end - (char *)raw) + strlen("Regards, Alice");
	for (size_t i = 0; i < len; i += 5) {
		smp_message *m;

		raw[i] ^= 0x01;
		m = parse_mem(raw, len);
		if (i >= lo && i < hi) {
			assert_int_equal(m->kind, SMP_MSG_SIGNED);
			for (size_t s = 0; s < m->n_signers; s++)
				assert_false(m->signers[s].signature_ok);
		}
		smp_message_free(m);
		raw[i] ^= 0x01;
	}
	free(raw);
	free(p);
}

static void test_signer_certificate_missing(void **state)
{
	smp_message *m = parse_fixture("nocerts.eml");

	(void)state;
	assert_int_equal(m->kind, SMP_MSG_SIGNED);
	assert_int_equal(m->n_signers, 1);
	assert_null(m->signers[0].cert);
	assert_false(m->signers[0].signature_ok);
	assert_non_null(strstr(m->signers[0].error, "certificate"));
	assert_int_equal(sk_X509_num(m->carried), 0);
	smp_message_free(m);
}

/* Nesting beyond the limit is reported, not followed (and does not crash). */
static void test_nesting_limit(void **state)
{
	char *msg = NULL, *tail = NULL, *next;
	smp_message *m;

	(void)state;
	assert_true(asprintf(&msg, "From: deep@example.org\nMIME-Version: 1.0\n") > 0);
	assert_true(asprintf(&tail, "%s", "") >= 0);
	for (int i = 0; i < 40; i++) {
		assert_true(asprintf(&next, "%sContent-Type: multipart/mixed; boundary=\"b%d\"\n\n--b%d\n",
				     msg, i, i) > 0);
		free(msg);
		msg = next;
		assert_true(asprintf(&next, "--b%d--\n%s", i, tail) > 0);
		free(tail);
		tail = next;
	}
	assert_true(asprintf(&next, "%sContent-Type: text/plain\n\nx\n%s", msg, tail) > 0);
	m = parse_mem((unsigned char *)next, strlen(next));
	assert_int_equal(m->kind, SMP_MSG_MALFORMED);
	assert_non_null(m->problem);
	assert_non_null(strstr(m->problem, "nesting"));
	smp_message_free(m);
	free(next);
	free(msg);
	free(tail);
}

/* ---- opaque, nested, forwarded ------------------------------------------------------------ */

static void test_opaque(void **state)
{
	static const char *const names[] = { "opaque.eml", "opaque-x.eml" };

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		smp_message *m = parse_fixture(names[i]);
		char *p = fixture(names[i]);
		size_t len;
		unsigned char *raw = slurp(p, &len);

		assert_non_null(strstr((char *)raw, i == 0 ? "application/pkcs7-mime" :
				       "application/x-pkcs7-mime"));
		assert_non_null(strstr((char *)raw, "signed-data"));
		assert_int_equal(m->kind, SMP_MSG_SIGNED);
		assert_int_equal(m->n_signers, 1);
		assert_true(m->signers[0].signature_ok);
		assert_string_equal(cn(m->signers[0].cert), "Bob Example");
		assert_string_equal(m->from, "bob@partner.example");
		smp_message_free(m);
		free(raw);
		free(p);
	}
}

static void test_nested_in_mixed(void **state)
{
	smp_message *m = parse_fixture("nested.eml");

	(void)state;
	assert_alice_ok(m);
	assert_string_equal(m->message_id, "nested@test.example");
	smp_message_free(m);
}

static void test_forwarded_rfc822(void **state)
{
	smp_message *m = parse_fixture("forwarded.eml");

	(void)state;
	assert_int_equal(m->kind, SMP_MSG_SIGNED);
	assert_string_equal(m->from, "forwarder@example.org");
	assert_string_equal(m->message_id, "forwarded@test.example");
	assert_int_equal(m->n_signers, 1);
	assert_true(m->signers[0].signature_ok);
	assert_string_equal(cn(m->signers[0].cert), "Alice Example");
	/* the signature belongs to the forwarded message and its sender */
	assert_string_equal(m->signers[0].from, "alice@partner.example");
	smp_message_free(m);
}

static void test_gpgsm(void **state)
{
	char *p = fixture("gpgsm.eml");
	smp_message *m;

	(void)state;
	if (access(p, R_OK) != 0) {
		free(p);
		skip();
	}
	m = parse_fixture("gpgsm.eml");
	assert_alice_ok(m);
	smp_message_free(m);
	free(p);
}

/* ---- not signed --------------------------------------------------------------------------- */

static void test_unsigned_and_encrypted(void **state)
{
	smp_message *m = parse_fixture("unsigned.eml");

	(void)state;
	assert_int_equal(m->kind, SMP_MSG_UNSIGNED);
	assert_int_equal(m->n_signers, 0);
	assert_null(m->problem);
	assert_string_equal(m->from, "carol@partner.example");
	assert_string_equal(smp_msg_kind_name(m->kind), "unsigned");
	smp_message_free(m);

	m = parse_fixture("encrypted.eml");
	assert_int_equal(m->kind, SMP_MSG_ENCRYPTED);
	assert_int_equal(m->n_signers, 0);
	assert_null(m->problem);
	assert_string_equal(smp_msg_kind_name(m->kind), "encrypted");
	smp_message_free(m);
}

static void test_malformed(void **state)
{
	static const unsigned char garbage[] = { 0x30, 0x82, 0xff, 0xff, 0x00, 0x01, 0x02 };
	smp_message *m;

	(void)state;
	m = parse_fixture("malformed-noboundary.eml");
	assert_int_equal(m->kind, SMP_MSG_MALFORMED);
	assert_non_null(strstr(m->problem, "boundary"));
	assert_string_equal(smp_msg_kind_name(m->kind), "malformed");
	smp_message_free(m);

	m = parse_fixture("malformed-badsig.eml");
	assert_int_equal(m->kind, SMP_MSG_MALFORMED);
	assert_non_null(strstr(m->problem, "not a CMS signature"));
	assert_int_equal(m->n_signers, 0);
	smp_message_free(m);

	m = parse_mem(garbage, sizeof(garbage));
	assert_int_equal(m->kind, SMP_MSG_MALFORMED);
	assert_non_null(m->problem);
	smp_message_free(m);

	m = parse_mem((const unsigned char *)"", 0);
	assert_int_equal(m->kind, SMP_MSG_MALFORMED);
	assert_non_null(m->problem);
	smp_message_free(m);
}

/* ---- mbox, Maildir, files ----------------------------------------------------------------- */

static void test_mbox(void **state)
{
	static const smp_msg_kind want[] = { SMP_MSG_SIGNED, SMP_MSG_UNSIGNED, SMP_MSG_ENCRYPTED,
					     SMP_MSG_MALFORMED, SMP_MSG_SIGNED };
	struct seen s = { 0 };
	smp_error err = SMP_ERROR_INIT;
	char *p = fixture("mixed.mbox");
	size_t len;
	unsigned char *raw;

	(void)state;
	assert_int_equal(smp_messages_read(p, collect, &s, &err), 0);
	assert_int_equal(s.n, 5);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(s.kind[i], want[i]);
		assert_int_equal(s.index[i], i);
		assert_string_equal(s.file[i], p);
	}
	assert_int_equal(s.n_ok[0], 1);
	assert_int_equal(s.n_ok[4], 1);
	assert_string_equal(s.from[1], "carol@partner.example");

	/* from memory, and stopping when the callback says so */
	raw = slurp(p, &len);
	memset(&s, 0, sizeof(s));
	s.stop_after = 2;
	assert_int_equal(smp_messages_parse(raw, len, "mem.mbox", collect, &s, &err), 7);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.file[1], "mem.mbox");
	free(raw);
	free(p);
}

static void test_maildir(void **state)
{
	struct seen s = { 0 };
	smp_error err = SMP_ERROR_INIT;
	char *p = fixture("maildir");

	(void)state;
	assert_int_equal(smp_messages_read(p, collect, &s, &err), 0);
	assert_int_equal(s.n, 3);    /* tmp/ is not read */
	assert_non_null(strstr(s.file[0], "maildir/cur/1000.a:2,S"));
	assert_non_null(strstr(s.file[1], "maildir/cur/1001.b:2,S"));
	assert_non_null(strstr(s.file[2], "maildir/new/1002.c"));
	assert_int_equal(s.kind[0], SMP_MSG_SIGNED);
	assert_int_equal(s.kind[1], SMP_MSG_UNSIGNED);
	assert_int_equal(s.kind[2], SMP_MSG_SIGNED);
	assert_int_equal(s.n_ok[2], 1);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(s.index[i], i);
	free(p);
}

static void test_p7m_files(void **state)
{
	static const char *const names[] = { "opaque.p7m", "opaque-pem.p7m", "opaque-b64.p7m" };

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct seen s = { 0 };
		smp_error err = SMP_ERROR_INIT;
		char *p = fixture(names[i]);

		assert_int_equal(smp_messages_read(p, collect, &s, &err), 0);
		assert_int_equal(s.n, 1);
		assert_int_equal(s.kind[0], SMP_MSG_SIGNED);
		assert_int_equal(s.n_ok[0], 1);
		free(p);
	}
}

static void test_p7s(void **state)
{
	char *sig = fixture("detached.bin.p7s");
	char *content = fixture("detached.bin");
	char *changed = fixture("detached-changed.bin");
	smp_error err = SMP_ERROR_INIT;
	smp_message *m = NULL;
	struct seen s = { 0 };

	(void)state;
	assert_int_equal(smp_p7s_read(&m, sig, content, &err), 0);
	assert_int_equal(m->kind, SMP_MSG_SIGNED);
	assert_int_equal(m->n_signers, 1);
	assert_true(m->signers[0].signature_ok);
	assert_string_equal(cn(m->signers[0].cert), "Alice Example");
	smp_message_free(m);

	assert_int_equal(smp_p7s_read(&m, sig, changed, &err), 0);
	assert_false(m->signers[0].signature_ok);
	assert_non_null(m->signers[0].error);
	smp_message_free(m);

	assert_int_equal(smp_p7s_read(&m, sig, NULL, &err), 0);
	assert_int_equal(m->n_signers, 1);
	assert_false(m->signers[0].signature_ok);
	assert_non_null(strstr(m->signers[0].error, "content"));
	assert_string_equal(cn(m->signers[0].cert), "Alice Example");
	smp_message_free(m);

	assert_int_equal(smp_p7s_read(&m, sig, "/nonexistent/content", &err), SMP_ERR_NOFILE);
	assert_null(m);

	/* X.p7s next to X: the content is found */
	assert_int_equal(smp_messages_read(sig, collect, &s, &err), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.n_ok[0], 1);
	free(sig);
	free(content);
	free(changed);
}

static void test_stdin(void **state)
{
	char *p = fixture("cms-crlf.eml");
	int fd = open(p, O_RDONLY);
	int saved = dup(STDIN_FILENO);
	struct seen s = { 0 };
	smp_error err = SMP_ERROR_INIT;

	(void)state;
	assert_true(fd >= 0 && saved >= 0);
	assert_int_equal(dup2(fd, STDIN_FILENO), STDIN_FILENO);
	close(fd);
	assert_int_equal(smp_messages_read("-", collect, &s, &err), 0);
	assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
	close(saved);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.file[0], "-");
	assert_int_equal(s.n_ok[0], 1);
	free(p);
}

static void test_read_errors(void **state)
{
	struct seen s = { 0 };
	smp_error err = SMP_ERROR_INIT;

	(void)state;
	assert_int_equal(smp_messages_read("/nonexistent/mail.eml", collect, &s, &err),
			 SMP_ERR_NOFILE);
	assert_non_null(strstr(err.msg, "'/nonexistent/mail.eml'"));
	assert_int_equal(smp_messages_read(pki, collect, &s, &err), SMP_ERR_BADINPUT);
	assert_int_equal(s.n, 0);
}

/* ---- SMIMEEncryptionKeyPreference --------------------------------------------------------- */

/* A multipart/signed message from signonly.pem carrying `carry`, with a preference for pref. */
static unsigned char *sign_with_pref(X509 *pref, enum pref_kind kind, X509 *carry, size_t *len)
{
	static const char body[] = "Content-Type: text/plain\r\n\r\nencrypt to my other key\r\n";
	X509 *signer = load_cert("signonly.pem");
	EVP_PKEY *key = load_key("signonly.key");
	CMS_ContentInfo *cms;
	CMS_SignerInfo *si;
	BIO *in, *out;
	X509_ATTRIBUTE *attr;
	unsigned char *msg;
	char *data;
	long n;

	cms = CMS_sign(NULL, NULL, NULL, NULL, CMS_PARTIAL | CMS_DETACHED | CMS_STREAM);
	assert_non_null(cms);
	si = CMS_add1_signer(cms, signer, key, EVP_sha256(), 0);
	assert_non_null(si);
	if (carry != NULL)
		assert_int_equal(CMS_add1_cert(cms, carry), 1);
	attr = pref_attribute(pref, kind);
	assert_non_null(attr);
	assert_int_equal(CMS_signed_add1_attr(si, attr), 1);
	X509_ATTRIBUTE_free(attr);
	in = BIO_new_mem_buf(body, -1);
	out = BIO_new(BIO_s_mem());
	assert_int_equal(BIO_puts(out, "From: signonly@partner.example\r\n"), 32);
	/* streaming: SMIME_write_CMS signs as it writes the content */
	assert_int_equal(SMIME_write_CMS(out, cms, in, CMS_DETACHED | CMS_STREAM), 1);
	n = BIO_get_mem_data(out, &data);
	msg = malloc((size_t)n);
	memcpy(msg, data, (size_t)n);
	*len = (size_t)n;
	BIO_free(out);
	BIO_free(in);
	CMS_ContentInfo_free(cms);
	EVP_PKEY_free(key);
	X509_free(signer);
	return msg;
}

static void test_encryption_key_preference(void **state)
{
	X509 *enc = load_cert("enconly.pem");
	X509 *sign = load_cert("signonly.pem");
	X509 *other = load_cert("bob-ec.pem");

	(void)state;
	for (int kind = PREF_IAS; kind <= PREF_SKI; kind++) {
		size_t len;
		unsigned char *msg = sign_with_pref(enc, kind, enc, &len);
		smp_message *m = parse_mem(msg, len);
		char name[32];
		char *p;
		FILE *fp;

		snprintf(name, sizeof(name), "pref-%d.eml", kind);
		p = fixture(name);
		fp = fopen(p, "wb");
		assert_non_null(fp);
		assert_int_equal(fwrite(msg, 1, len, fp), len);
		fclose(fp);
		free(p);

		assert_int_equal(m->kind, SMP_MSG_SIGNED);
		assert_int_equal(m->n_signers, 1);
		assert_true(m->signers[0].signature_ok);
		assert_int_equal(X509_cmp(m->signers[0].cert, sign), 0);
		assert_non_null(m->signers[0].encryption_cert);
		assert_int_equal(X509_cmp(m->signers[0].encryption_cert, enc), 0);
		assert_true(carries(m, "EncOnly Example"));
		smp_message_free(m);
		free(msg);

		/* the preferred certificate is not in the message: nothing to offer */
		msg = sign_with_pref(enc, kind, other, &len);
		m = parse_mem(msg, len);
		assert_true(m->signers[0].signature_ok);
		assert_null(m->signers[0].encryption_cert);
		smp_message_free(m);
		free(msg);

		/* the preference names the signing certificate itself */
		msg = sign_with_pref(sign, kind, enc, &len);
		m = parse_mem(msg, len);
		assert_true(m->signers[0].signature_ok);
		assert_null(m->signers[0].encryption_cert);
		smp_message_free(m);
		free(msg);
	}
	X509_free(enc);
	X509_free(sign);
	X509_free(other);
}

/* ---- setup -------------------------------------------------------------------------------- */

static int setup(void **state)
{
	const char *src = getenv("SMIMEPUB_SRCDIR");
	char *cmd = NULL;
	int rc;

	(void)state;
	pki = getenv("SMIMEPUB_PKI");
	if (pki == NULL || src == NULL) {
		fprintf(stderr, "SMIMEPUB_PKI and SMIMEPUB_SRCDIR must be set (run through meson test)\n");
		return -1;
	}
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	if (asprintf(&cmd, "'%s/tests/unit/make-mail.sh' '%s' '%s' >'%s/make-mail.log' 2>&1",
		     src, pki, tmpdir, tmpdir) < 0)
		return -1;
	rc = system(cmd);
	free(cmd);
	if (rc != 0) {
		fprintf(stderr, "make-mail.sh failed, see %s/make-mail.log\n", tmpdir);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	char *cmd = NULL;

	(void)state;
	if (getenv("SMIMEPUB_KEEP") == NULL && asprintf(&cmd, "rm -rf '%s'", tmpdir) > 0) {
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", tmpdir);
	}
	free(cmd);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_multipart_signed_line_ends),
		cmocka_unit_test(test_untrusted_ca_signature_ok),
		cmocka_unit_test(test_two_signers),
		cmocka_unit_test(test_tampered_body_is_bad),
		cmocka_unit_test(test_tampered_signature_is_bad),
		cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_signer_certificate_missing),
		cmocka_unit_test(test_nesting_limit),
		cmocka_unit_test(test_opaque),
		cmocka_unit_test(test_nested_in_mixed),
		cmocka_unit_test(test_forwarded_rfc822),
		cmocka_unit_test(test_gpgsm),
		cmocka_unit_test(test_unsigned_and_encrypted),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_mbox),
		cmocka_unit_test(test_maildir),
		cmocka_unit_test(test_p7m_files),
		cmocka_unit_test(test_p7s),
		cmocka_unit_test(test_stdin),
		cmocka_unit_test(test_read_errors),
		cmocka_unit_test(test_encryption_key_preference),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

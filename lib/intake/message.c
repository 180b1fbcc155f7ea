/*
 * Signed mail as an input: finds every S/MIME signature in a message (multipart/signed,
 * opaque application/pkcs7-mime, nested in multiparts or forwarded as message/rfc822),
 * verifies the CMS signature math over the signed content and collects the certificates.
 * MIME and mbox come from GMime, CMS and ASN.1 from OpenSSL.
 */
#include "smimepub/message.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gmime/gmime.h>
#include <openssl/asn1t.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/cms.h>

#include "pkcs7.h"

/*
 * Limits on hostile input, all in this one place (the man page's LIMITS section says them).
 * GMime builds the whole tree of a message before any of it can be looked at, about 1.3 KiB
 * per part: a 7 MB message of 1,000,000 empty parts took 1.3 GB and 35 s. So the parts are
 * bounded before GMime is given the bytes: every MIME delimiter is a line that begins with
 * "--", and a message with more such lines than SMP_MSG_MAX_PARTS is refused unparsed. Real
 * mail has tens of parts; ten thousand is far past any mail client and keeps GMime's tree
 * near 15 MB. Header fields cost GMime about 650 bytes each (1,000,000 of them, 7 MB, took
 * 654 MB and 9 s), so lines shaped like a field's start ("Name:") are bounded the same way by
 * SMP_MSG_MAX_HEADERS: real mail has a few hundred. The counts are shared by the messages
 * nested inside one message (a forwarded message is parsed again from its decoded bytes), so
 * nesting does not multiply them.
 */
#define MAX_DEPTH 16            /* MIME / CMS nesting followed */
#define MAX_SIGNATURES 64       /* signatures looked at in one message */
#define MAX_INPUT_BYTES (256u << 20)  /* one file or stdin read into memory */
#define STR_(x) #x
#define STR(x) STR_(x)
#define PARTS_REFUSED "more than " STR(SMP_MSG_MAX_PARTS) " MIME parts (a limit): not read"
#define HEADERS_REFUSED "more than " STR(SMP_MSG_MAX_HEADERS) " header fields (a limit): " \
	"not read"
#define CERTS_REFUSED "a signature carries more than " STR(SMP_BUNDLE_MAX_CERTS) \
	" certificates (a limit): not read"

#define OID_ENC_KEY_PREF "1.2.840.113549.1.9.16.2.11"

/* ---- SMIMEEncryptionKeyPreference (RFC 8551 2.5.3), decoded by OpenSSL's template API ---- */

typedef struct smp_ias {
	X509_NAME *issuer;
	ASN1_INTEGER *serial;
} SMP_IAS;

typedef struct smp_rkid {
	ASN1_OCTET_STRING *ski;
	ASN1_GENERALIZEDTIME *date;
	ASN1_TYPE *other;
} SMP_RKID;

typedef struct smp_ekp {
	int type;
	union {
		SMP_IAS *ias;
		SMP_RKID *rkid;
		ASN1_OCTET_STRING *ski;
	} d;
} SMP_EKP;

ASN1_SEQUENCE(SMP_IAS) = {
	ASN1_SIMPLE(SMP_IAS, issuer, X509_NAME),
	ASN1_SIMPLE(SMP_IAS, serial, ASN1_INTEGER),
} static_ASN1_SEQUENCE_END(SMP_IAS)

ASN1_SEQUENCE(SMP_RKID) = {
	ASN1_SIMPLE(SMP_RKID, ski, ASN1_OCTET_STRING),
	ASN1_OPT(SMP_RKID, date, ASN1_GENERALIZEDTIME),
	ASN1_OPT(SMP_RKID, other, ASN1_ANY),
} static_ASN1_SEQUENCE_END(SMP_RKID)

ASN1_CHOICE(SMP_EKP) = {
	ASN1_IMP(SMP_EKP, d.ias, SMP_IAS, 0),
	ASN1_IMP(SMP_EKP, d.rkid, SMP_RKID, 1),
	ASN1_IMP(SMP_EKP, d.ski, ASN1_OCTET_STRING, 2),
} static_ASN1_CHOICE_END(SMP_EKP)

/* ---- State of one message being read ------------------------------------------------------ */

struct walk {
	smp_message *m;
	const unsigned char *raw; /* the bytes being parsed (for a signed part's exact octets) */
	size_t raw_len;
	GMimeParserOptions *popts;
	char *gmime_problem;    /* first serious parser warning */
	size_t n_signatures;
	size_t parts;           /* "--" lines of every entity of this message given to GMime */
	size_t headers;         /* and lines shaped like a header field's start */
	int encrypted;
};

/*
 * Counts the lines that begin with "--" (an upper bound on the MIME parts GMime can build from
 * them) and those shaped like a header field's start (a field name, optional blanks, ':'; an
 * upper bound on its header fields), fed in pieces. With mbox set, stops at a line that begins
 * with "From " other than the first line: the start of the next message, where GMime's mbox
 * parser ends one.
 */
struct dash_scan {
	size_t lines;       /* lines begun with "--" */
	size_t fields;      /* lines begun "Name:" */
	int name;           /* 0: at the line start, 1: in a field name, 2: blanks after it, 3: no */
	uint64_t pos;       /* bytes scanned */
	uint64_t line_at;   /* where the current line begins */
	unsigned head_n;    /* characters of the current line seen (up to 5) */
	char head[5];
	int mbox;
	int next;           /* mbox: the next message's From line begins at line_at */
};

/* Scans n bytes of p; returns n, or less once the next message begins (at s->line_at). */
static size_t dash_feed(struct dash_scan *s, const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && !s->next; i++, s->pos++) {
		if (p[i] == '\n') {
			s->head_n = 0;
			s->name = 0;
			s->line_at = s->pos + 1;
			continue;
		}
		if (s->name < 3) {  /* RFC 5322 ftext is 33-126 but ':'; obs-FWS before the colon */
			if (p[i] == ':' && s->name > 0) {
				s->fields++;
				s->name = 3;
			} else if (s->name < 2 && p[i] > 32 && p[i] < 127 && p[i] != ':') {
				s->name = 1;
			} else if (s->name > 0 && (p[i] == ' ' || p[i] == '\t')) {
				s->name = 2;
			} else {
				s->name = 3;
			}
		}
		if (s->head_n >= sizeof(s->head))
			continue;
		s->head[s->head_n++] = (char)p[i];
		if (s->head_n == 2 && memcmp(s->head, "--", 2) == 0)
			s->lines++;
		if (s->head_n == 5 && s->mbox && s->line_at > 0 && memcmp(s->head, "From ", 5) == 0) {
			s->next = 1;
			break;
		}
	}
	return i;
}

/*
 * Adds what s counted to the message's counts: NULL, or (adding nothing) why the entity is
 * refused unparsed.
 */
static const char *over_limits(struct walk *w, const struct dash_scan *s)
{
	if (s->lines > SMP_MSG_MAX_PARTS - w->parts)
		return PARTS_REFUSED;
	if (s->fields > SMP_MSG_MAX_HEADERS - w->headers)
		return HEADERS_REFUSED;
	w->parts += s->lines;
	w->headers += s->fields;
	return NULL;
}

/* over_limits for one whole entity in memory. */
static const char *over_limits_mem(struct walk *w, const unsigned char *p, size_t len)
{
	struct dash_scan s = { 0 };

	dash_feed(&s, p, len);
	return over_limits(w, &s);
}

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void gmime_setup(void)
{
	g_mime_init();
}

const char *smp_msg_kind_name(smp_msg_kind kind)
{
	switch (kind) {
	case SMP_MSG_SIGNED:
		return "signed";
	case SMP_MSG_UNSIGNED:
		return "unsigned";
	case SMP_MSG_ENCRYPTED:
		return "encrypted";
	case SMP_MSG_MALFORMED:
		return "malformed";
	}
	return "malformed";
}

static char *xstrdup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static void set_problem(struct walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_problem(struct walk *w, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	if (w->m->problem != NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	w->m->problem = s;
}

static void on_parser_warning(gint64 offset, GMimeParserWarning code, const gchar *item,
			      gpointer user_data)
{
	struct walk *w = user_data;
	const char *what;

	switch (code) {
	case GMIME_CRIT_INVALID_HEADER_NAME:
		what = "invalid header field name";
		break;
	case GMIME_CRIT_CONFLICTING_HEADER:
		what = "conflicting header fields";
		break;
	case GMIME_CRIT_CONFLICTING_PARAMETER:
		what = "conflicting header parameters";
		break;
	case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
		what = "multipart without boundary";
		break;
	case GMIME_CRIT_NESTING_OVERFLOW:
		what = "MIME nesting too deep";
		break;
	case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
		what = "MIME part without headers or content";
		break;
	case GMIME_WARN_MALFORMED_MULTIPART:
		what = "multipart without parts";
		break;
	case GMIME_WARN_TRUNCATED_MESSAGE:
		what = "message is truncated";
		break;
	case GMIME_WARN_MALFORMED_MESSAGE:
		what = "malformed message";
		break;
	default:
		return;
	}
	if (w == NULL || w->gmime_problem != NULL)
		return;
	if (item != NULL && *item != '\0') {
		if (asprintf(&w->gmime_problem, "%s at offset %lld ('%.60s')", what,
			     (long long)offset, item) < 0)
			w->gmime_problem = NULL;
	} else if (asprintf(&w->gmime_problem, "%s at offset %lld", what, (long long)offset) < 0) {
		w->gmime_problem = NULL;
	}
}

/* ---- Results ------------------------------------------------------------------------------ */

static void signer_release(smp_signer *s)
{
	X509_free(s->cert);
	X509_free(s->encryption_cert);
	free(s->error);
	free(s->from);
}

void smp_message_free(smp_message *m)
{
	if (m == NULL)
		return;
	free(m->file);
	free(m->message_id);
	free(m->from);
	free(m->subject);
	free(m->problem);
	for (size_t i = 0; i < m->n_signers; i++)
		signer_release(&m->signers[i]);
	free(m->signers);
	sk_X509_pop_free(m->carried, X509_free);
	free(m);
}

static char *dup_or_null(const char *s, int *failed)
{
	char *d = xstrdup_or_null(s);

	*failed |= s != NULL && d == NULL;
	return d;
}

int smp_message_dup(smp_message **out, const smp_message *m)
{
	smp_message *d = calloc(1, sizeof(*d));
	int failed = d == NULL;

	*out = NULL;
	if (failed)
		return SMP_ERR_NOMEM;
	d->file = dup_or_null(m->file, &failed);
	d->index = m->index;
	d->message_id = dup_or_null(m->message_id, &failed);
	d->from = dup_or_null(m->from, &failed);
	d->subject = dup_or_null(m->subject, &failed);
	d->kind = m->kind;
	d->problem = dup_or_null(m->problem, &failed);
	d->carried = X509_chain_up_ref(m->carried);
	failed |= d->carried == NULL;
	if (m->n_signers > 0 && (d->signers = calloc(m->n_signers, sizeof(*d->signers))) == NULL)
		failed = 1;
	for (size_t i = 0; !failed && i < m->n_signers; i++) {
		const smp_signer *s = &m->signers[i];
		smp_signer *t = &d->signers[d->n_signers++];

		if (s->cert != NULL && X509_up_ref(s->cert))
			t->cert = s->cert;
		if (s->encryption_cert != NULL && X509_up_ref(s->encryption_cert))
			t->encryption_cert = s->encryption_cert;
		failed |= (s->cert != NULL && t->cert == NULL) ||
			  (s->encryption_cert != NULL && t->encryption_cert == NULL);
		t->signature_ok = s->signature_ok;
		t->unchecked = s->unchecked;
		t->error = dup_or_null(s->error, &failed);
		t->from = dup_or_null(s->from, &failed);
	}
	if (failed) {
		smp_message_free(d);
		return SMP_ERR_NOMEM;
	}
	*out = d;
	return 0;
}

static int message_new(smp_message **out, const char *file, size_t index, smp_error *err)
{
	smp_message *m;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	m->file = strdup(file != NULL ? file : "-");
	m->carried = sk_X509_new_null();
	if (m->file == NULL || m->carried == NULL) {
		smp_message_free(m);
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	}
	m->index = index;
	m->kind = SMP_MSG_UNSIGNED;
	*out = m;
	return 0;
}

static void add_carried(smp_message *m, X509 *x)
{
	for (int i = 0; i < sk_X509_num(m->carried); i++)
		if (X509_cmp(sk_X509_value(m->carried, i), x) == 0)
			return;
	if (X509_up_ref(x) && !sk_X509_push(m->carried, x))
		X509_free(x);
}

static smp_signer *add_signer(smp_message *m)
{
	smp_signer *v;

	v = realloc(m->signers, (m->n_signers + 1) * sizeof(*v));
	if (v == NULL)
		return NULL;
	m->signers = v;
	memset(&v[m->n_signers], 0, sizeof(*v));
	return &v[m->n_signers++];
}

static void finish_kind(struct walk *w)
{
	smp_message *m = w->m;

	if (w->gmime_problem != NULL && m->problem == NULL) {
		m->problem = w->gmime_problem;
		w->gmime_problem = NULL;
	}
	if (m->n_signers > 0)
		m->kind = SMP_MSG_SIGNED;
	else if (m->problem != NULL)
		m->kind = SMP_MSG_MALFORMED;
	else if (w->encrypted)
		m->kind = SMP_MSG_ENCRYPTED;
	else
		m->kind = SMP_MSG_UNSIGNED;
}

/* ---- CMS ---------------------------------------------------------------------------------- */

static int is_base64_text(const unsigned char *p, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/' || c == '='))
			return 0;
		n++;
	}
	return n >= 16;
}

/*
 * The CMS object of len bytes of DER, NULL when it is none; *too_many set (and NULL) when it
 * carries more than SMP_BUNDLE_MAX_CERTS certificates, counted before they are decoded.
 */
static CMS_ContentInfo *cms_from_der(const unsigned char *p, size_t len, int *too_many)
{
	if (pkcs7_count_certs(p, len, SMP_BUNDLE_MAX_CERTS) > SMP_BUNDLE_MAX_CERTS) {
		*too_many = 1;
		return NULL;
	}
	return d2i_CMS_ContentInfo(NULL, &p, (long)len);
}

/*
 * A CMS ContentInfo from DER, PEM (PKCS7 / CMS) or bare base64 of the DER; NULL otherwise
 * (*too_many: see cms_from_der).
 */
static CMS_ContentInfo *cms_from_bytes(const unsigned char *p, size_t len, int *too_many)
{
	CMS_ContentInfo *cms = NULL;
	BIO *mem = NULL, *b64 = NULL;
	unsigned char *der = NULL;
	size_t skip = 0;

	*too_many = 0;
	if (len == 0 || len > MAX_INPUT_BYTES)
		return NULL;
	if (p[0] == 0x30) {
		cms = cms_from_der(p, len, too_many);
		goto out;
	}
	while (skip < len && (p[skip] == ' ' || p[skip] == '\t' || p[skip] == '\r' ||
			      p[skip] == '\n'))
		skip++;
	if (len - skip >= 10 && memcmp(p + skip, "-----BEGIN", 10) == 0) {
		unsigned char *body = NULL;
		long blen = 0;

		/* PEM_STRING_CMS takes "PKCS7" blocks too, as PEM_read_bio_CMS does */
		mem = BIO_new_mem_buf(p, (int)len);
		if (mem != NULL && PEM_bytes_read_bio(&body, &blen, NULL, PEM_STRING_CMS, mem, NULL,
						      NULL) == 1 && blen > 0)
			cms = cms_from_der(body, (size_t)blen, too_many);
		OPENSSL_free(body);
		goto out;
	}
	if (is_base64_text(p, len)) {
		int n;

		der = malloc(len);
		mem = BIO_new_mem_buf(p, (int)len);
		b64 = BIO_new(BIO_f_base64());
		if (der == NULL || mem == NULL || b64 == NULL)
			goto out;
		BIO_push(b64, mem);
		mem = NULL;
		n = BIO_read(b64, der, (int)len);
		if (n > 0 && der[0] == 0x30)
			cms = cms_from_der(der, (size_t)n, too_many);
	}
out:
	BIO_free(mem);
	BIO_free_all(b64);
	free(der);
	ERR_clear_error();
	return cms;
}

/* 1 when signer info si's digest over content (and its signature) verify; else 0 with *why. */
static int verify_content(CMS_ContentInfo *cms, CMS_SignerInfo *si, const unsigned char *data,
			  size_t len, const char **why)
{
	BIO *in = NULL, *chain = NULL;
	char buf[4096];
	int ok = 0;

	*why = "the signed content is too large";
	if (len > INT_MAX)
		return 0;
	in = BIO_new_mem_buf(len > 0 ? data : (const unsigned char *)"", (int)len);
	if (in == NULL)
		goto out;
	chain = CMS_dataInit(cms, in);
	if (chain == NULL) {
		*why = "cannot set up the digest";
		goto out;
	}
	while (BIO_read(chain, buf, sizeof(buf)) > 0)
		;
	if (CMS_SignerInfo_verify_content(si, chain) == 1)
		ok = 1;
	else
		*why = "the signed content does not match the signature (message changed)";
out:
	while (chain != NULL && chain != in) {
		BIO *next = BIO_pop(chain);

		BIO_free(chain);
		chain = next;
	}
	BIO_free(in);
	ERR_clear_error();
	return ok;
}

/* Copy of data with every bare LF made CRLF; NULL when nothing would change. */
static unsigned char *crlf_copy(const unsigned char *data, size_t len, size_t *outlen)
{
	size_t extra = 0, j = 0;
	unsigned char *p;

	for (size_t i = 0; i < len; i++)
		if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
			extra++;
	if (extra == 0)
		return NULL;
	p = malloc(len + extra);
	if (p == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
			p[j++] = '\r';
		p[j++] = data[i];
	}
	*outlen = j;
	return p;
}

static X509 *find_preferred(STACK_OF(X509) *certs, const SMP_EKP *ekp)
{
	const ASN1_OCTET_STRING *want = NULL;

	switch (ekp->type) {
	case 0:
		for (int i = 0; i < sk_X509_num(certs); i++) {
			X509 *x = sk_X509_value(certs, i);

			if (X509_NAME_cmp(X509_get_issuer_name(x), ekp->d.ias->issuer) == 0 &&
			    ASN1_INTEGER_cmp(X509_get0_serialNumber(x), ekp->d.ias->serial) == 0)
				return x;
		}
		return NULL;
	case 1:
		want = ekp->d.rkid->ski;
		break;
	case 2:
		want = ekp->d.ski;
		break;
	default:
		return NULL;
	}
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);
		const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(x);

		if (ski != NULL && ASN1_OCTET_STRING_cmp(ski, want) == 0)
			return x;
	}
	return NULL;
}

/* The carried certificate the SMIMEEncryptionKeyPreference of si names (borrowed), or NULL. */
static X509 *encryption_preference(CMS_SignerInfo *si, STACK_OF(X509) *certs)
{
	ASN1_OBJECT *oid;
	ASN1_STRING *val;
	const unsigned char *p;
	SMP_EKP *ekp = NULL;
	X509 *found = NULL;

	oid = OBJ_txt2obj(OID_ENC_KEY_PREF, 1);
	if (oid == NULL)
		goto out;
	val = CMS_signed_get0_data_by_OBJ(si, oid, -3, V_ASN1_OTHER);
	if (val == NULL)
		goto out;
	p = ASN1_STRING_get0_data(val);
	ekp = (SMP_EKP *)ASN1_item_d2i(NULL, &p, ASN1_STRING_length(val), ASN1_ITEM_rptr(SMP_EKP));
	if (ekp != NULL)
		found = find_preferred(certs, ekp);
out:
	ASN1_item_free((ASN1_VALUE *)ekp, ASN1_ITEM_rptr(SMP_EKP));
	ASN1_OBJECT_free(oid);
	ERR_clear_error();
	return found;
}

static void walk_bytes(struct walk *w, const unsigned char *data, size_t len, const char *from,
		       int depth);

/*
 * Records what a CMS object holds. content/len: the detached content of a multipart/signed
 * (CRLF canonical form first, then alt as written), or NULL for an opaque / bare object.
 */
static void handle_cms(struct walk *w, CMS_ContentInfo *cms, const unsigned char *content,
		       size_t len, const unsigned char *alt, size_t alt_len, const char *from,
		       int depth)
{
	STACK_OF(X509) *certs = NULL;
	STACK_OF(CMS_SignerInfo) *sis;
	ASN1_OCTET_STRING **econt;
	const unsigned char *signed_data = content;
	size_t signed_len = len;
	unsigned char *crlf = NULL;
	size_t crlf_len = 0;
	int opaque = 0;

	switch (OBJ_obj2nid(CMS_get0_type(cms))) {
	case NID_pkcs7_enveloped:
	case NID_id_smime_ct_authEnvelopedData:
		w->encrypted = 1;
		return;
	case NID_pkcs7_signed:
		break;
	default:
		return;
	}
	if (++w->n_signatures > MAX_SIGNATURES) {
		set_problem(w, "more than %d signatures", MAX_SIGNATURES);
		return;
	}
	certs = CMS_get1_certs(cms);
	for (int i = 0; i < sk_X509_num(certs); i++)
		add_carried(w->m, sk_X509_value(certs, i));
	econt = CMS_get0_content(cms);
	if (econt != NULL && *econt != NULL) {
		opaque = 1;
		signed_data = ASN1_STRING_get0_data(*econt);
		signed_len = (size_t)ASN1_STRING_length(*econt);
		alt = NULL;
	} else if (content != NULL) {
		/* the content as given, in canonical CRLF form (a file saved with LF), then alt */
		crlf = crlf_copy(content, len, &crlf_len);
	}
	sis = CMS_get0_SignerInfos(cms);
	if (sk_CMS_SignerInfo_num(sis) > 0)
		CMS_set1_signers_certs(cms, NULL, 0);
	ERR_clear_error();
	for (int i = 0; i < sk_CMS_SignerInfo_num(sis); i++) {
		CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sis, i);
		smp_signer *s;
		X509 *signer = NULL, *enc;
		const char *why = NULL;

		s = add_signer(w->m);
		if (s == NULL)
			break;
		CMS_SignerInfo_get0_algs(si, NULL, &signer, NULL, NULL);
		if (signer != NULL && X509_up_ref(signer))
			s->cert = signer;
		s->from = xstrdup_or_null(from);
		enc = encryption_preference(si, certs);
		if (enc != NULL && (signer == NULL || X509_cmp(enc, signer) != 0) && X509_up_ref(enc))
			s->encryption_cert = enc;
		if (signer == NULL) {
			why = "the signer's certificate is not in the message";
		} else if (signed_data == NULL) {
			why = "detached signature: the signed content was not given";
			s->unchecked = 1;
		} else if (CMS_signed_get_attr_count(si) >= 0 && CMS_SignerInfo_verify(si) != 1) {
			why = "the signature over the signed attributes does not verify";
		} else if (verify_content(cms, si, signed_data, signed_len, &why) ||
			   (crlf != NULL && verify_content(cms, si, crlf, crlf_len, &why)) ||
			   (alt != NULL && verify_content(cms, si, alt, alt_len, &why))) {
			s->signature_ok = 1;
		}
		ERR_clear_error();
		if (!s->signature_ok)
			s->error = strdup(why != NULL ? why : "the signature does not verify");
	}
	if (opaque)
		walk_bytes(w, signed_data, signed_len, from, depth + 1);
	sk_X509_pop_free(certs, X509_free);
	free(crlf);
}

/* ---- MIME --------------------------------------------------------------------------------- */

static char *first_from(GMimeMessage *msg)
{
	InternetAddressList *list = g_mime_message_get_from(msg);

	for (int i = 0; list != NULL && i < internet_address_list_length(list); i++) {
		InternetAddress *a = internet_address_list_get_address(list, i);

		if (INTERNET_ADDRESS_IS_GROUP(a)) {
			InternetAddressList *members =
				internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a));

			if (members != NULL && internet_address_list_length(members) > 0)
				a = internet_address_list_get_address(members, 0);
		}
		if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
			const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));

			if (addr != NULL && *addr != '\0')
				return strdup(addr);
		}
	}
	return NULL;
}

/* The decoded content of a leaf part, or NULL. */
static GByteArray *part_bytes(GMimePart *part, GMimeStream **keep)
{
	GMimeDataWrapper *dw = g_mime_part_get_content(part);
	GMimeStream *mem;

	*keep = NULL;
	if (dw == NULL)
		return NULL;
	mem = g_mime_stream_mem_new();
	if (g_mime_data_wrapper_write_to_stream(dw, mem) < 0) {
		g_object_unref(mem);
		return NULL;
	}
	*keep = mem;
	return g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
}

static int is_type(GMimeObject *obj, const char *type, const char *subtype)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);

	return ct != NULL && g_mime_content_type_is_type(ct, type, subtype);
}

static int name_ends_with(GMimeObject *obj, const char *suffix)
{
	const char *name = NULL;
	size_t n, s = strlen(suffix);

	if (GMIME_IS_PART(obj))
		name = g_mime_part_get_filename(GMIME_PART(obj));
	if (name == NULL)
		return 0;
	n = strlen(name);
	return n >= s && g_ascii_strcasecmp(name + n - s, suffix) == 0;
}

/* The first part of a multipart/signed written back out; CRLF line ends when dos. */
static GByteArray *write_part(GMimeObject *obj, int dos, GMimeStream **keep)
{
	GMimeFormatOptions *fo = g_mime_format_options_new();
	GMimeStream *mem = g_mime_stream_mem_new();

	g_mime_format_options_set_newline_format(fo, dos ? GMIME_NEWLINE_FORMAT_DOS :
						 GMIME_NEWLINE_FORMAT_UNIX);
	g_mime_object_write_to_stream(obj, fo, mem);
	g_mime_format_options_free(fo);
	*keep = mem;
	return g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
}

/*
 * The exact octets of the first body part of the multipart delimited by boundary, found in
 * raw: from after the first delimiter line to before the line break that precedes the next
 * delimiter (RFC 2046 5.1.1). RFC 1847 / RFC 8551 3.1.1 sign exactly these octets, and GMime
 * cannot give them back: it rewrites a part when writing it out, and a part without headers
 * (openssl smime -sign without -text) loses its first lines as malformed headers. NULL when
 * the delimiters are not in raw verbatim (a signed message inside a base64 part).
 */
static const unsigned char *first_part_octets(const unsigned char *raw, size_t len,
					      const char *boundary, size_t *out_len)
{
	size_t blen = boundary != NULL ? strlen(boundary) : 0, start = 0, i;

	if (raw == NULL || blen == 0 || blen > 70)
		return NULL;
	for (i = 0;; i++) {  /* the first delimiter at the start of a line */
		const unsigned char *p = memmem(raw + i, len - i, boundary, blen);

		if (p == NULL)
			return NULL;
		i = (size_t)(p - raw);
		if (i >= 2 && p[-1] == '-' && p[-2] == '-' && (i == 2 || p[-3] == '\n'))
			break;
	}
	for (start = i + blen; start < len && raw[start] != '\n'; start++)
		;
	if (start >= len)
		return NULL;
	start++;
	for (i = start; i + blen + 3 <= len; i++) {  /* the next: CRLF or LF, "--", boundary */
		if (raw[i] == '\n' && raw[i + 1] == '-' && raw[i + 2] == '-' &&
		    memcmp(raw + i + 3, boundary, blen) == 0) {
			size_t end = i > start && raw[i - 1] == '\r' ? i - 1 : i;

			*out_len = end - start;
			return raw + start;
		}
	}
	return NULL;
}

static void walk_object(struct walk *w, GMimeObject *obj, const char *from, int depth);

static void walk_signed(struct walk *w, GMimeMultipart *mp, const char *from, int depth)
{
	GMimeObject *content, *sig;
	GMimeStream *s_sig = NULL, *s_dos = NULL, *s_raw = NULL;
	GByteArray *b_sig, *b_dos, *b_raw;
	CMS_ContentInfo *cms = NULL;
	int too_many = 0;

	if (g_mime_multipart_get_count(mp) != 2) {
		set_problem(w, "multipart/signed with %d parts instead of 2",
			    g_mime_multipart_get_count(mp));
		if (g_mime_multipart_get_count(mp) > 0)
			walk_object(w, g_mime_multipart_get_part(mp, 0), from, depth + 1);
		return;
	}
	content = g_mime_multipart_get_part(mp, 0);
	sig = g_mime_multipart_get_part(mp, 1);
	if (!is_type(sig, "application", "pkcs7-signature") &&
	    !is_type(sig, "application", "x-pkcs7-signature") && !name_ends_with(sig, ".p7s")) {
		walk_object(w, content, from, depth + 1);      /* not S/MIME (e.g. OpenPGP) */
		return;
	}
	if (!GMIME_IS_PART(sig) || (b_sig = part_bytes(GMIME_PART(sig), &s_sig)) == NULL ||
	    (cms = cms_from_bytes(b_sig->data, b_sig->len, &too_many)) == NULL) {
		if (too_many)
			set_problem(w, "%s", CERTS_REFUSED);
		else
			set_problem(w, "the signature part is not a CMS signature");
	} else {
		size_t exact_len = 0;
		const unsigned char *exact = first_part_octets(w->raw, w->raw_len,
							      g_mime_multipart_get_boundary(mp),
							      &exact_len);

		b_dos = write_part(content, 1, &s_dos);
		b_raw = write_part(content, 0, &s_raw);
		if (exact != NULL)  /* the octets as they stand, then GMime's CRLF rewrite */
			handle_cms(w, cms, exact, exact_len, b_dos->data, b_dos->len, from, depth);
		else
			handle_cms(w, cms, b_dos->data, b_dos->len, b_raw->data, b_raw->len, from,
				   depth);
	}
	walk_object(w, content, from, depth + 1);
	CMS_ContentInfo_free(cms);
	if (s_sig != NULL)
		g_object_unref(s_sig);
	if (s_dos != NULL)
		g_object_unref(s_dos);
	if (s_raw != NULL)
		g_object_unref(s_raw);
}

static void walk_message(struct walk *w, GMimeMessage *msg, const char *outer_from, int depth)
{
	char *from = first_from(msg);
	GMimeObject *body = g_mime_message_get_mime_part(msg);

	if (body != NULL)
		walk_object(w, body, from != NULL ? from : outer_from, depth + 1);
	free(from);
}

static void walk_object(struct walk *w, GMimeObject *obj, const char *from, int depth)
{
	if (obj == NULL)
		return;
	if (depth > MAX_DEPTH) {
		set_problem(w, "nesting deeper than %d levels", MAX_DEPTH);
		return;
	}
	if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));

		if (inner != NULL)
			walk_message(w, inner, from, depth);
	} else if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);

		if (is_type(obj, "multipart", "signed")) {
			walk_signed(w, mp, from, depth);
			return;
		}
		for (int i = 0; i < g_mime_multipart_get_count(mp); i++)
			walk_object(w, g_mime_multipart_get_part(mp, i), from, depth + 1);
	} else if (GMIME_IS_PART(obj)) {
		int cms_part = is_type(obj, "application", "pkcs7-mime") ||
			       is_type(obj, "application", "x-pkcs7-mime") ||
			       name_ends_with(obj, ".p7m");
		int msg_part = is_type(obj, "message", "rfc822");
		GMimeStream *keep = NULL;
		GByteArray *b;

		if (!cms_part && !msg_part)
			return;
		b = part_bytes(GMIME_PART(obj), &keep);
		if (b == NULL) {
			set_problem(w, "cannot decode a MIME part");
		} else if (cms_part) {
			int too_many = 0;
			CMS_ContentInfo *cms = cms_from_bytes(b->data, b->len, &too_many);

			if (too_many)
				set_problem(w, "%s", CERTS_REFUSED);
			else if (cms == NULL)
				set_problem(w, "an application/pkcs7-mime part is not a CMS object");
			else
				handle_cms(w, cms, NULL, 0, NULL, 0, from, depth);
			CMS_ContentInfo_free(cms);
		} else {
			walk_bytes(w, b->data, b->len, from, depth + 1);
		}
		if (keep != NULL)
			g_object_unref(keep);
	}
}

static GMimeParser *parser_for(const unsigned char *data, size_t len, GMimeFormat format)
{
	GMimeStream *st = g_mime_stream_mem_new_with_buffer((const char *)data, len);
	GMimeParser *parser = g_mime_parser_new_with_stream(st);

	g_object_unref(st);
	g_mime_parser_set_format(parser, format);
	return parser;
}

/* Parses data as a MIME entity (a message, or a bare part inside signed content) and walks it. */
static void walk_bytes(struct walk *w, const unsigned char *data, size_t len, const char *from,
		       int depth)
{
	GMimeParser *parser;
	GMimeObject *obj;
	const char *why;

	if (depth > MAX_DEPTH) {
		set_problem(w, "nesting deeper than %d levels", MAX_DEPTH);
		return;
	}
	const unsigned char *raw = w->raw;
	size_t raw_len = w->raw_len;

	if ((why = over_limits_mem(w, data, len)) != NULL) {
		set_problem(w, "%s", why);
		return;
	}
	parser = parser_for(data, len, GMIME_FORMAT_MESSAGE);
	obj = g_mime_parser_construct_part(parser, w->popts);
	if (obj != NULL) {
		w->raw = data;
		w->raw_len = len;
		walk_object(w, obj, from, depth);
		w->raw = raw;
		w->raw_len = raw_len;
		g_object_unref(obj);
	}
	g_object_unref(parser);
}

static void take_headers(smp_message *m, GMimeMessage *msg)
{
	const char *id = g_mime_message_get_message_id(msg);
	const char *subject = g_mime_message_get_subject(msg);

	m->message_id = xstrdup_or_null(id);
	m->subject = xstrdup_or_null(subject);
	m->from = first_from(msg);
}

static GMimeParserOptions *options_for(struct walk *w)
{
	GMimeParserOptions *o = g_mime_parser_options_new();

	g_mime_parser_options_set_warning_callback(o, on_parser_warning, w);
	return o;
}

/* Builds the result for one GMime message (msg NULL: the parser found none). */
static int from_gmime(smp_message **out, struct walk *w, GMimeMessage *msg, const char *file,
		      size_t index, smp_error *err)
{
	int r;

	r = message_new(&w->m, file, index, err);
	if (r != 0)
		return r;
	if (msg == NULL || g_mime_object_get_header_list(GMIME_OBJECT(msg)) == NULL ||
	    g_mime_header_list_get_count(g_mime_object_get_header_list(GMIME_OBJECT(msg))) == 0) {
		set_problem(w, "not a MIME message: no header fields");
	} else {
		take_headers(w->m, msg);
		walk_message(w, msg, NULL, 0);
	}
	finish_kind(w);
	*out = w->m;
	w->m = NULL;
	return 0;
}

/* The result for a message refused unparsed over a limit (why). */
static int refused(smp_message **out, const char *file, size_t index, const char *why,
		   smp_error *err)
{
	struct walk w = { 0 };
	int r = message_new(&w.m, file, index, err);

	if (r != 0)
		return r;
	set_problem(&w, "%s", why);
	finish_kind(&w);
	*out = w.m;
	return 0;
}

static void walk_release(struct walk *w)
{
	free(w->gmime_problem);
	w->gmime_problem = NULL;
	w->n_signatures = 0;
	w->parts = 0;
	w->headers = 0;
	w->encrypted = 0;
}

int smp_message_parse(smp_message **out, const unsigned char *data, size_t len, const char *file,
		      smp_error *err)
{
	struct walk w = { 0 };
	CMS_ContentInfo *cms;
	const char *why;
	GMimeParser *parser = NULL;
	GMimeMessage *msg = NULL;
	int r = SMP_ERR_INTERNAL, too_many = 0;

	*out = NULL;
	pthread_once(&gmime_once, gmime_setup);
	cms = cms_from_bytes(data, len, &too_many);
	if (too_many) {
		r = refused(out, file, 0, CERTS_REFUSED, err);
		goto out;
	}
	if (cms != NULL) {
		r = message_new(&w.m, file, 0, err);
		if (r != 0)
			goto out;
		handle_cms(&w, cms, NULL, 0, NULL, 0, NULL, 0);
		finish_kind(&w);
		*out = w.m;
		w.m = NULL;
		r = 0;
		goto out;
	}
	w.popts = options_for(&w);
	if (len > 0 && (why = over_limits_mem(&w, data, len)) != NULL) {
		r = refused(out, file, 0, why, err);
		goto out;
	}
	if (len > 0 && len <= MAX_INPUT_BYTES) {
		parser = parser_for(data, len, GMIME_FORMAT_MESSAGE);
		msg = g_mime_parser_construct_message(parser, w.popts);
		w.raw = data;
		w.raw_len = len;
	}
	r = from_gmime(out, &w, msg, file, 0, err);
	if (r == 0 && len == 0) {
		free((*out)->problem);
		(*out)->problem = strdup("empty message");
	}
out:
	CMS_ContentInfo_free(cms);
	if (msg != NULL)
		g_object_unref(msg);
	if (parser != NULL)
		g_object_unref(parser);
	if (w.popts != NULL)
		g_mime_parser_options_free(w.popts);
	smp_message_free(w.m);
	walk_release(&w);
	return r;
}

/*
 * Where an mbox's bytes are for counting a message's parts before GMime reads it: in memory,
 * or a file read with pread (which leaves GMime's position in the file alone).
 */
struct mbox_src {
	const unsigned char *mem;
	size_t len;
	int fd;
};

/* Counts the lines of the message that begins at offset into *s; *next: where the next begins. */
static int mbox_scan(const struct mbox_src *src, uint64_t offset, struct dash_scan *s,
		     uint64_t *next)
{
	unsigned char buf[65536];

	memset(s, 0, sizeof(*s));
	s->mbox = 1;
	if (src->mem != NULL) {
		if (offset < src->len)
			dash_feed(s, src->mem + offset, src->len - (size_t)offset);
	} else {
		for (;;) {
			ssize_t n = pread(src->fd, buf, sizeof(buf), (off_t)(offset + s->pos));

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return -1;
			if (n == 0 || dash_feed(s, buf, (size_t)n) < (size_t)n)
				break;
		}
	}
	*next = offset + (s->next ? s->line_at : s->pos);
	return 0;
}

/*
 * Calls fn for every message of an mbox read from stream (at src's offset 0). Each message's
 * parts are counted first; one over the limit is reported as refused and skipped unparsed.
 */
static int read_mbox(GMimeStream *stream, const struct mbox_src *src, const char *file,
		     smp_message_fn fn, void *ctx, smp_error *err)
{
	struct walk w = { 0 };
	GMimeParser *parser;
	size_t index = 0;
	uint64_t at = 0;
	int r = 0;

	w.popts = options_for(&w);
	parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MBOX);
	while (r == 0 && !g_mime_parser_eos(parser)) {
		GMimeMessage *msg;
		smp_message *m = NULL;
		struct dash_scan scan;
		const char *why;
		uint64_t next = 0;

		if (mbox_scan(src, at, &scan, &next) != 0) {
			r = smp_error_set(err, SMP_ERR_NOFILE, "cannot read '%s': %s", file,
					  strerror(errno));
			break;
		}
		if (next == at)
			break;
		if ((why = over_limits(&w, &scan)) != NULL) {
			/* GMime never sees it: the parser starts again at the next message */
			r = refused(&m, file, index++, why, err);
			if (r == 0)
				r = fn(m, ctx);
			smp_message_free(m);
			at = next;
			if (g_mime_stream_seek(stream, (gint64)next, GMIME_STREAM_SEEK_SET) < 0)
				break;
			g_mime_parser_init_with_stream(parser, stream);
			g_mime_parser_set_format(parser, GMIME_FORMAT_MBOX);
			continue;
		}
		at = next;
		msg = g_mime_parser_construct_message(parser, w.popts);
		if (msg == NULL)
			break;
		r = from_gmime(&m, &w, msg, file, index++, err);
		g_object_unref(msg);
		walk_release(&w);
		if (r == 0)
			r = fn(m, ctx);
		smp_message_free(m);
	}
	g_object_unref(parser);
	g_mime_parser_options_free(w.popts);
	walk_release(&w);
	return r;
}

static int starts_with_from(const unsigned char *data, size_t len)
{
	return len >= 5 && memcmp(data, "From ", 5) == 0;
}

int smp_messages_parse(const unsigned char *data, size_t len, const char *file, smp_message_fn fn,
		       void *ctx, smp_error *err)
{
	smp_message *m = NULL;
	int r;

	pthread_once(&gmime_once, gmime_setup);
	if (starts_with_from(data, len)) {
		GMimeStream *st = g_mime_stream_mem_new_with_buffer((const char *)data, len);
		struct mbox_src src = { data, len, -1 };

		r = read_mbox(st, &src, file != NULL ? file : "-", fn, ctx, err);
		g_object_unref(st);
		return r;
	}
	r = smp_message_parse(&m, data, len, file, err);
	if (r == 0)
		r = fn(m, ctx);
	smp_message_free(m);
	return r;
}

/* Reads a whole file (or stdin for "-") into memory. */
static int slurp(unsigned char **out, size_t *outlen, const char *path, smp_error *err)
{
	int fd, r = SMP_ERR_INTERNAL;
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0;

	*out = NULL;
	*outlen = 0;
	fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return smp_error_set(err, SMP_ERR_NOFILE, "cannot read '%s': %s", path,
				     strerror(errno));
	for (;;) {
		ssize_t n;

		if (len == cap) {
			unsigned char *nb;

			if (cap >= MAX_INPUT_BYTES) {
				r = smp_error_set(err, SMP_ERR_BADINPUT, "cannot read '%s': larger than %u MiB",
						  path, MAX_INPUT_BYTES >> 20);
				goto out;
			}
			cap = cap != 0 ? cap * 2 : 65536;
			nb = realloc(buf, cap + 1);
			if (nb == NULL) {
				r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
				goto out;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = smp_error_set(err, SMP_ERR_NOFILE, "cannot read '%s': %s", path,
					  strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*out = buf;
	*outlen = len;
	buf = NULL;
	r = 0;
out:
	if (fd != STDIN_FILENO)
		close(fd);
	free(buf);
	return r;
}

static int has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

int smp_p7s_read(smp_message **out, const char *p7s_path, const char *content_path,
		 smp_error *err)
{
	struct walk w = { 0 };
	unsigned char *sig = NULL, *content = NULL;
	size_t sig_len = 0, content_len = 0;
	CMS_ContentInfo *cms = NULL;
	int r = SMP_ERR_INTERNAL, too_many = 0;

	*out = NULL;
	pthread_once(&gmime_once, gmime_setup);
	r = slurp(&sig, &sig_len, p7s_path, err);
	if (r != 0)
		goto out;
	if (content_path != NULL) {
		r = slurp(&content, &content_len, content_path, err);
		if (r != 0)
			goto out;
	}
	r = message_new(&w.m, p7s_path, 0, err);
	if (r != 0)
		goto out;
	cms = cms_from_bytes(sig, sig_len, &too_many);
	if (too_many)
		set_problem(&w, "%s", CERTS_REFUSED);
	else if (cms == NULL)
		set_problem(&w, "not a CMS signature");
	else
		handle_cms(&w, cms, content_path != NULL ? content : NULL, content_len, NULL, 0,
			   NULL, 0);
	finish_kind(&w);
	*out = w.m;
	w.m = NULL;
	r = 0;
out:
	CMS_ContentInfo_free(cms);
	smp_message_free(w.m);
	walk_release(&w);
	free(sig);
	free(content);
	return r;
}

static int read_file(const char *path, size_t index, smp_message_fn fn, void *ctx,
		     smp_error *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	smp_message *m = NULL;
	char *content = NULL;
	int r;

	if (strcmp(path, "-") != 0) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		char head[5];
		ssize_t n;

		if (fd < 0)
			return smp_error_set(err, SMP_ERR_NOFILE, "cannot read '%s': %s", path,
					     strerror(errno));
		n = read(fd, head, sizeof(head));
		if (n == 5 && memcmp(head, "From ", 5) == 0 && lseek(fd, 0, SEEK_SET) == 0) {
			GMimeStream *st = g_mime_stream_fs_new(fd);
			struct mbox_src src = { NULL, 0, fd };

			r = read_mbox(st, &src, path, fn, ctx, err);
			g_object_unref(st);
			return r;
		}
		close(fd);
	}
	r = slurp(&data, &len, path, err);
	if (r != 0)
		return r;
	if (has_suffix(path, ".p7s") && strlen(path) > 4 && (content = strdup(path)) != NULL) {
		content[strlen(content) - 4] = '\0';
		if (access(content, R_OK) == 0) {
			r = smp_p7s_read(&m, path, content, err);
			if (r == 0)
				r = fn(m, ctx);
			goto out;
		}
	}
	if (starts_with_from(data, len)) {
		r = smp_messages_parse(data, len, path, fn, ctx, err);
		goto out;
	}
	r = smp_message_parse(&m, data, len, path, err);
	if (r == 0) {
		m->index = index;
		r = fn(m, ctx);
	}
out:
	smp_message_free(m);
	free(content);
	free(data);
	return r;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Regular files of dir (not dot files), sorted; *n may be 0. Missing dir: 0 files. */
static int list_dir(char ***out, size_t *n, const char *dir, smp_error *err)
{
	DIR *d;
	struct dirent *de;
	char **v = NULL;
	size_t count = 0;
	int r = SMP_ERR_NOMEM;

	*out = NULL;
	*n = 0;
	d = opendir(dir);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char *path;
		char **nv;
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
			goto out;
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
			free(path);
			continue;
		}
		nv = realloc(v, (count + 1) * sizeof(*v));
		if (nv == NULL) {
			free(path);
			goto out;
		}
		v = nv;
		v[count++] = path;
	}
	qsort(v, count, sizeof(*v), cmp_names);
	*out = v;
	*n = count;
	v = NULL;
	count = 0;
	r = 0;
out:
	if (r != 0)
		smp_error_set(err, r, "out of memory");
	for (size_t i = 0; i < count; i++)
		free(v[i]);
	free(v);
	closedir(d);
	return r;
}

static int read_maildir(const char *path, smp_message_fn fn, void *ctx, smp_error *err)
{
	static const char *const subdirs[] = { "cur", "new" };
	size_t index = 0;
	int r = 0;

	for (size_t s = 0; r == 0 && s < 2; s++) {
		char *dir = NULL, **files = NULL;
		size_t n = 0;

		if (asprintf(&dir, "%s/%s", path, subdirs[s]) < 0)
			return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		r = list_dir(&files, &n, dir, err);
		for (size_t i = 0; r == 0 && i < n; i++)
			r = read_file(files[i], index++, fn, ctx, err);
		for (size_t i = 0; i < n; i++)
			free(files[i]);
		free(files);
		free(dir);
	}
	return r;
}

int smp_messages_read(const char *path, smp_message_fn fn, void *ctx, smp_error *err)
{
	struct stat st;

	pthread_once(&gmime_once, gmime_setup);
	if (strcmp(path, "-") == 0)
		return read_file(path, 0, fn, ctx, err);
	if (stat(path, &st) != 0)
		return smp_error_set(err, SMP_ERR_NOFILE, "cannot read '%s': %s", path,
				     strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		char *cur = NULL, *new = NULL;
		struct stat s1, s2;
		int maildir;

		if (asprintf(&cur, "%s/cur", path) < 0 || asprintf(&new, "%s/new", path) < 0) {
			free(cur);
			return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		}
		maildir = (stat(cur, &s1) == 0 && S_ISDIR(s1.st_mode)) ||
			  (stat(new, &s2) == 0 && S_ISDIR(s2.st_mode));
		free(cur);
		free(new);
		if (!maildir)
			return smp_error_set(err, SMP_ERR_BADINPUT,
					     "cannot read '%s': a directory that is not a Maildir", path);
		return read_maildir(path, fn, ctx, err);
	}
	return read_file(path, 0, fn, ctx, err);
}

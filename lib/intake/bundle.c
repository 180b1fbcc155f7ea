/* Certificate intake: DER, PEM, bare base64 and PKCS#7 bundles (SPEC §3). */
#include "smimepub/cert.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include "pkcs7.h"

#define MAX_CERTS SMP_BUNDLE_MAX_CERTS
#define DER_MAX_DEPTH 30  /* OpenSSL's own decoder stops there too */

struct smp_bundle {
	STACK_OF(X509) *all;    /* owned references */
	STACK_OF(X509) *leaves; /* borrowed from all */
};

/* Adds x (taking the reference) unless the same certificate is already there. */
static int bundle_add(smp_bundle *b, X509 *x, smp_error *err)
{
	for (int i = 0; i < sk_X509_num(b->all); i++) {
		if (X509_cmp(sk_X509_value(b->all, i), x) == 0) {
			X509_free(x);
			return 0;
		}
	}
	if (sk_X509_num(b->all) >= MAX_CERTS) {
		X509_free(x);
		return smp_error_set(err, SMP_ERR_BADINPUT,
				     "more than %d certificates (a limit): not read", MAX_CERTS);
	}
	if (sk_X509_push(b->all, x) <= 0) {
		X509_free(x);
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	}
	return 0;
}

/* Explains why DER data did not parse: truncated, or not a certificate at all. */
static int der_failure(const unsigned char *data, size_t len, const char *what, smp_error *err)
{
	const unsigned char *p = data;
	long plen = 0;
	int tag = 0, cls = 0, ret;
	unsigned long e;

	if (smp_openssl_out_of_memory()) {
		ERR_clear_error();
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	}
	ERR_clear_error();
	ret = ASN1_get_object(&p, &plen, &tag, &cls, (long)len);
	e = ERR_peek_last_error();
	ERR_clear_error();
	if ((ret & 0x80) != 0 && ERR_GET_REASON(e) == ASN1_R_TOO_LONG && tag == V_ASN1_SEQUENCE &&
	    plen > 0)
		return smp_error_set(err, SMP_ERR_BADINPUT,
				     "truncated DER: %s has %zu of %lld bytes", what, len,
				     (long long)(p - data) + (long long)plen);
	if ((ret & 0x80) != 0 && ERR_GET_REASON(e) == ASN1_R_HEADER_TOO_LONG)
		return smp_error_set(err, SMP_ERR_BADINPUT, "truncated DER: %s ends inside a header",
				     what);
	return smp_error_set(err, SMP_ERR_BADINPUT, "not a certificate: %s is not an X.509 "
			     "certificate or PKCS#7 bundle", what);
}

/*
 * Steps *pp over one DER/BER element of at most len bytes (indefinite lengths followed to their
 * end-of-contents). Returns 0, or -1 when it is not well formed.
 */
static int der_skip(const unsigned char **pp, long len, int depth)
{
	const unsigned char *p = *pp;
	long plen = 0;
	int tag, cls, ret;

	if (depth > DER_MAX_DEPTH || len <= 0)
		return -1;
	ret = ASN1_get_object(&p, &plen, &tag, &cls, len);
	if ((ret & 0x80) != 0)
		return -1;
	len -= (long)(p - *pp);
	if (ret == 0x21) {  /* constructed, indefinite length */
		for (;;) {
			const unsigned char *q = p;

			if (len >= 2 && p[0] == 0 && p[1] == 0) {
				p += 2;
				break;
			}
			if (der_skip(&p, len, depth + 1) != 0)
				return -1;
			len -= (long)(p - q);
		}
	} else {
		p += plen;
	}
	*pp = p;
	return 0;
}

/* Reads the header of the element at *pp: 1 when it has tag/cls and is constructed. */
static int der_enter(const unsigned char **pp, const unsigned char *end, int want_tag,
		     int want_cls, const unsigned char **inner_end)
{
	const unsigned char *p = *pp;
	long plen = 0;
	int tag, cls, ret;

	if (end <= p)
		return 0;
	ret = ASN1_get_object(&p, &plen, &tag, &cls, (long)(end - p));
	if ((ret & 0x80) != 0 || (ret & V_ASN1_CONSTRUCTED) == 0 || tag != want_tag ||
	    cls != want_cls)
		return 0;
	*inner_end = ret == 0x21 ? end : p + plen;
	*pp = p;
	return 1;
}

/* See pkcs7.h. ContentInfo { type, [0] SignedData { version, digests, content, [0] certs } }. */
size_t pkcs7_count_certs(const unsigned char *data, size_t len, size_t max)
{
	const unsigned char *p = data, *end = data + len, *e;
	size_t n = 0;

	if (len > (size_t)LONG_MAX || !der_enter(&p, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &e))
		return 0;
	if (der_skip(&p, (long)(e - p), 0) != 0 ||
	    !der_enter(&p, e, 0, V_ASN1_CONTEXT_SPECIFIC, &e) ||
	    !der_enter(&p, e, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &e))
		return 0;
	for (int i = 0; i < 3; i++)  /* version, digestAlgorithms, contentInfo */
		if (der_skip(&p, (long)(e - p), 0) != 0)
			return 0;
	if (!der_enter(&p, e, 0, V_ASN1_CONTEXT_SPECIFIC, &e))
		return 0;
	while (p < e && n <= max) {
		if (e - p >= 2 && p[0] == 0 && p[1] == 0)
			break;  /* end of an indefinite-length set */
		if (der_skip(&p, (long)(e - p), 0) != 0)
			break;
		n++;
	}
	ERR_clear_error();
	return n;
}

/* Adds the certificates of a PKCS#7 structure; p7 stays the caller's. */
static int add_pkcs7(smp_bundle *b, PKCS7 *p7, const char *what, smp_error *err)
{
	STACK_OF(X509) *certs = NULL;
	int r;

	if (PKCS7_type_is_signed(p7) && p7->d.sign != NULL)
		certs = p7->d.sign->cert;
	if (certs == NULL || sk_X509_num(certs) == 0)
		return smp_error_set(err, SMP_ERR_BADINPUT,
				     "PKCS#7 bundle holds no certificate (%s)", what);
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);

		if (x == NULL || !X509_up_ref(x))
			return smp_error_set(err, SMP_ERR_INTERNAL, "cannot take a reference");
		if ((r = bundle_add(b, x, err)) != 0)
			return r;
	}
	return 0;
}

/* One DER object: a certificate or a PKCS#7 bundle, with nothing but padding after it. */
static int read_der(smp_bundle *b, const unsigned char *data, size_t len, int aux,
		    const char *what, smp_error *err)
{
	const unsigned char *p = data;
	X509 *x = NULL;
	PKCS7 *p7 = NULL;
	int r = SMP_ERR_INTERNAL;
	size_t used;

	if (len > SMP_MAX_INPUT)
		return smp_error_set(err, SMP_ERR_BADINPUT, "%s is too large", what);
	x = aux ? d2i_X509_AUX(NULL, &p, (long)len) : d2i_X509(NULL, &p, (long)len);
	if (x == NULL && pkcs7_count_certs(data, len, MAX_CERTS) > MAX_CERTS)
		return smp_error_set(err, SMP_ERR_BADINPUT, "more than %d certificates in %s (a "
				     "limit): not read", MAX_CERTS, what);
	if (x == NULL) {
		p = data;
		p7 = d2i_PKCS7(NULL, &p, (long)len);
	}
	ERR_clear_error();
	if (x == NULL && p7 == NULL) {
		r = der_failure(data, len, what, err);
		goto out;
	}
	used = (size_t)(p - data);
	for (size_t i = used; i < len; i++) {
		if (data[i] != 0 && data[i] != ' ' && data[i] != '\n' && data[i] != '\r' &&
		    data[i] != '\t') {
			r = smp_error_set(err, SMP_ERR_BADINPUT,
					  "not a certificate: %s has %zu unexpected bytes after the "
					  "certificate", what, len - used);
			goto out;
		}
	}
	if (x != NULL) {
		r = bundle_add(b, x, err);
		x = NULL;
		if (r != 0)
			goto out;
	} else if ((r = add_pkcs7(b, p7, what, err)) != 0) {
		goto out;
	}
	r = 0;
out:
	X509_free(x);
	PKCS7_free(p7);
	return r;
}

static int is_b64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/*
 * Bare base64 of a DER object, whitespace allowed anywhere. Returns 1 when data is not
 * plausible base64 (nothing reported), 0 when read, or an error.
 */
static int read_base64(smp_bundle *b, const unsigned char *data, size_t len, smp_error *err)
{
	unsigned char *clean = NULL, *der = NULL;
	size_t n = 0, pad = 0;
	int dl, r = SMP_ERR_INTERNAL;

	if (len >= 3 && data[0] == 0xef && data[1] == 0xbb && data[2] == 0xbf) {
		data += 3;
		len -= 3;
	}
	if ((clean = malloc(len + 1)) == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = data[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			pad++;
		} else if (!is_b64_char(c) || pad > 0) {
			r = 1;
			goto out;
		}
		clean[n++] = c;
	}
	clean[n] = '\0';
	if (n < 8 || n % 4 != 0 || pad > 2) {
		r = 1;
		goto out;
	}
	if ((der = malloc(n / 4 * 3 + 1)) == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	dl = EVP_DecodeBlock(der, clean, (int)n);
	if (dl < 0 || (size_t)dl < pad) {
		r = 1;
		goto out;
	}
	dl -= (int)pad;
	if (dl == 0 || der[0] != 0x30) {
		r = smp_error_set(err, SMP_ERR_BADINPUT,
				  "not a certificate: the base64 data does not decode to DER");
		goto out;
	}
	r = read_der(b, der, (size_t)dl, 0, "the base64-decoded data", err);
out:
	free(clean);
	free(der);
	return r;
}

/* Every CERTIFICATE and PKCS7 block; other blocks and text around them are ignored. */
static int read_pem(smp_bundle *b, const unsigned char *data, size_t len, smp_error *err)
{
	BIO *bio = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *body = NULL;
	long blen = 0;
	int r = SMP_ERR_INTERNAL, block = 0, other = 0;
	char what[64];

	if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	for (;;) {
		unsigned long e;
		int aux = 0, is_p7 = 0;

		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(body);
		name = header = NULL;
		body = NULL;
		ERR_clear_error();
		if (!PEM_read_bio(bio, &name, &header, &body, &blen)) {
			e = ERR_peek_last_error();
			ERR_clear_error();
			if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
				break;
			r = smp_error_set(err, SMP_ERR_BADINPUT,
					  "PEM block %d is damaged (bad base64 or no END line)",
					  block + 1);
			goto out;
		}
		block++;
		if (strcmp(name, "CERTIFICATE") == 0 || strcmp(name, "X509 CERTIFICATE") == 0) {
			aux = 0;
		} else if (strcmp(name, "TRUSTED CERTIFICATE") == 0) {
			aux = 1;
		} else if (strcmp(name, "PKCS7") == 0 || strcmp(name, "PKCS #7 SIGNED DATA") == 0 ||
			   strcmp(name, "CMS") == 0) {
			is_p7 = 1;
		} else {
			other++;
			continue;
		}
		snprintf(what, sizeof(what), "PEM block %d (%s)", block, is_p7 ? "PKCS7" : name);
		if (blen <= 0) {
			r = smp_error_set(err, SMP_ERR_BADINPUT, "not a certificate: %s is empty",
					  what);
			goto out;
		}
		if ((r = read_der(b, body, (size_t)blen, aux, what, err)) != 0)
			goto out;
	}
	if (sk_X509_num(b->all) == 0) {
		if (other > 0)
			r = smp_error_set(err, SMP_ERR_BADINPUT,
					  "no certificate: the PEM data holds %d block(s), none a "
					  "CERTIFICATE or PKCS7", other);
		else
			r = smp_error_set(err, SMP_ERR_BADINPUT,
					  "not a certificate: no complete PEM block found");
		goto out;
	}
	r = 0;
out:
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(body);
	BIO_free(bio);
	return r;
}

/* Leaves: certificates that issued no other certificate of the bundle. */
static int find_leaves(smp_bundle *b, smp_error *err)
{
	int n = sk_X509_num(b->all);

	for (int i = 0; i < n; i++) {
		X509 *cand = sk_X509_value(b->all, i);
		int issuer = 0;

		for (int j = 0; j < n && !issuer; j++)
			if (j != i && X509_check_issued(cand, sk_X509_value(b->all, j)) == X509_V_OK)
				issuer = 1;
		if (!issuer && sk_X509_push(b->leaves, cand) <= 0)
			return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	}
	/* A cycle (certificates issuing each other) has no leaf: take the first. */
	if (sk_X509_num(b->leaves) == 0 && sk_X509_push(b->leaves, sk_X509_value(b->all, 0)) <= 0)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	ERR_clear_error();
	return 0;
}

static int has_pem_marker(const unsigned char *data, size_t len)
{
	static const char marker[] = "-----BEGIN ";

	return memmem(data, len, marker, sizeof(marker) - 1) != NULL;
}

/*
 * Text saved as UTF-16 (Windows PowerShell's default) with a byte order mark: returns the ASCII
 * text in *narrow (caller frees), 1 when data is not such text, or an error.
 */
static int narrow_utf16(unsigned char **narrow, size_t *nlen, const unsigned char *data,
			size_t len, smp_error *err)
{
	int be;
	unsigned char *n;
	size_t k = 0;

	*narrow = NULL;
	if (len < 2 || len % 2 != 0 || !((data[0] == 0xff && data[1] == 0xfe) ||
					 (data[0] == 0xfe && data[1] == 0xff)))
		return 1;
	be = data[0] == 0xfe;
	if ((n = malloc(len / 2 + 1)) == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	for (size_t i = 2; i < len; i += 2) {
		unsigned char hi = be ? data[i] : data[i + 1], lo = be ? data[i + 1] : data[i];

		if (hi != 0 || lo >= 0x80) {
			free(n);
			return smp_error_set(err, SMP_ERR_BADINPUT,
					     "not a certificate: UTF-16 text with characters that "
					     "cannot be in PEM or base64");
		}
		n[k++] = lo;
	}
	n[k] = '\0';
	*narrow = n;
	*nlen = k;
	return 0;
}

/* Reads certificates in any supported form (see cert.h). *out is the caller's to free. */
int smp_bundle_read(smp_bundle **out, const unsigned char *data, size_t len, smp_error *err)
{
	smp_bundle *b = NULL;
	smp_error der_err = SMP_ERROR_INIT;
	unsigned char *narrow = NULL;
	size_t nlen = 0;
	int r = SMP_ERR_INTERNAL;

	if (out != NULL)
		*out = NULL;
	if (out == NULL || (data == NULL && len > 0))
		return smp_error_set(err, SMP_ERR_INTERNAL, "smp_bundle_read: null argument");
	if (len == 0)
		return smp_error_set(err, SMP_ERR_BADINPUT, "no certificate: the input is empty");
	if (len > SMP_MAX_INPUT)
		return smp_error_set(err, SMP_ERR_BADINPUT,
				     "input of %zu bytes is larger than the %d MiB limit for "
				     "certificate data", len, SMP_MAX_INPUT >> 20);
	if ((r = narrow_utf16(&narrow, &nlen, data, len, err)) == 0) {
		data = narrow;
		len = nlen;
		if (len == 0) {
			r = smp_error_set(err, SMP_ERR_BADINPUT, "no certificate: the input is empty");
			goto out;
		}
	} else if (r != 1) {
		goto out;
	}
	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    (b->all = sk_X509_new_null()) == NULL || (b->leaves = sk_X509_new_null()) == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (data[0] == 0x30) {
		r = read_der(b, data, len, 0, "the input", &der_err);
		if (r == 0)
			goto leaves;
		if (r != SMP_ERR_BADINPUT || !has_pem_marker(data, len)) {
			smp_error_set(err, r, "%s", der_err.msg);
			goto out;
		}
		sk_X509_pop_free(b->all, X509_free);
		if ((b->all = sk_X509_new_null()) == NULL) {
			r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if (has_pem_marker(data, len)) {
		if ((r = read_pem(b, data, len, err)) != 0)
			goto out;
		goto leaves;
	}
	r = read_base64(b, data, len, err);
	if (r == 1)
		r = smp_error_set(err, SMP_ERR_BADINPUT,
				  "not a certificate: neither DER, PEM, base64 nor PKCS#7");
	if (r != 0)
		goto out;
leaves:
	if ((r = find_leaves(b, err)) != 0)
		goto out;
	*out = b;
	b = NULL;
	r = 0;
out:
	ERR_clear_error();
	smp_bundle_free(b);
	free(narrow);
	return r;
}

/* Reads a whole file of at most max bytes into a buffer the caller frees. */
int smp_read_file(unsigned char **out, size_t *len, const char *path, size_t max,
		  smp_error *err)
{
	FILE *fp = NULL;
	unsigned char *buf = NULL;
	size_t cap = 0, n = 0, got;
	int r = SMP_ERR_INTERNAL;

	if (out != NULL)
		*out = NULL;
	if (len != NULL)
		*len = 0;
	if (out == NULL || len == NULL || path == NULL)
		return smp_error_set(err, SMP_ERR_INTERNAL, "smp_read_file: null argument");
	if (strcmp(path, "-") == 0)
		fp = stdin;
	else if ((fp = fopen(path, "rb")) == NULL) {
		r = smp_error_set(err, SMP_ERR_NOFILE, "cannot read '%s': %s", path,
				  strerror(errno));
		goto out;
	}
	for (;;) {
		if (n == cap) {
			unsigned char *nb;

			if (cap > max) {
				r = smp_error_set(err, SMP_ERR_BADINPUT,
						  "cannot read '%s': larger than %zu bytes", path, max);
				goto out;
			}
			cap = cap == 0 ? 65536 : cap * 2;
			if ((nb = realloc(buf, cap + 1)) == NULL) {
				r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
				goto out;
			}
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n, fp);
		n += got;
		if (got == 0) {
			if (ferror(fp)) {
				r = smp_error_set(err, SMP_ERR_NOFILE, "cannot read '%s': %s", path,
						  strerror(errno));
				goto out;
			}
			break;
		}
	}
	if (n > max) {
		r = smp_error_set(err, SMP_ERR_BADINPUT, "cannot read '%s': larger than %zu bytes",
				  path, max);
		goto out;
	}
	if (buf == NULL && (buf = malloc(1)) == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
	r = 0;
out:
	if (fp != NULL && fp != stdin)
		fclose(fp);
	free(buf);
	return r;
}

/* Reads the certificates of a file (see smp_bundle_read); messages name the file. */
int smp_bundle_read_file(smp_bundle **out, const char *path, smp_error *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	smp_error e = SMP_ERROR_INIT;
	int r;

	if (out != NULL)
		*out = NULL;
	if ((r = smp_read_file(&data, &len, path, SMP_MAX_INPUT, err)) != 0)
		return r;
	r = smp_bundle_read(out, data, len, &e);
	if (r != 0)
		smp_error_set(err, r, "cannot read '%s': %s", path, e.msg);
	free(data);
	return r;
}

/* Number of leaves. */
size_t smp_bundle_leaf_count(const smp_bundle *b)
{
	return b == NULL ? 0 : (size_t)sk_X509_num(b->leaves);
}

/* Leaf i, borrowed. */
X509 *smp_bundle_leaf(const smp_bundle *b, size_t i)
{
	if (b == NULL || i >= (size_t)sk_X509_num(b->leaves))
		return NULL;
	return sk_X509_value(b->leaves, (int)i);
}

/* Every certificate, borrowed. */
STACK_OF(X509) *smp_bundle_all(const smp_bundle *b)
{
	return b == NULL ? NULL : b->all;
}

/* Frees b and its certificates (NULL is fine). */
void smp_bundle_free(smp_bundle *b)
{
	if (b == NULL)
		return;
	sk_X509_free(b->leaves);
	sk_X509_pop_free(b->all, X509_free);
	free(b);
}

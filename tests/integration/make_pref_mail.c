/*
 * Test fixture maker: a multipart/signed message whose signer names a separate encryption
 * certificate with the RFC 8551 SMIMEEncryptionKeyPreference attribute (issuerAndSerialNumber)
 * and carries it. openssl cms cannot add that attribute, so OpenSSL's CMS API builds it.
 * Usage: make_pref_mail SIGNER.pem SIGNER.key ENCRYPTION.pem CHAIN.pem FROM OUT.eml
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/cms.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

static X509 *load_cert(const char *path)
{
	FILE *fp = fopen(path, "r");
	X509 *x = fp ? PEM_read_X509(fp, NULL, NULL, NULL) : NULL;

	if (fp)
		fclose(fp);
	return x;
}

/* DER of SMIMEEncryptionKeyPreference [0] IssuerAndSerialNumber naming x; caller frees. */
static unsigned char *pref_der(X509 *x, int *len)
{
	unsigned char *a = NULL, *b = NULL, *der, *p;
	int na = i2d_X509_NAME(X509_get_issuer_name(x), &a);
	int nb = i2d_ASN1_INTEGER((ASN1_INTEGER *)X509_get0_serialNumber(x), &b);

	if (na <= 0 || nb <= 0)
		return NULL;
	*len = ASN1_object_size(1, na + nb, 0);
	der = malloc((size_t)*len);
	p = der;
	ASN1_put_object(&p, 1, na + nb, 0, V_ASN1_CONTEXT_SPECIFIC);
	memcpy(p, a, (size_t)na);
	memcpy(p + na, b, (size_t)nb);
	OPENSSL_free(a);
	OPENSSL_free(b);
	return der;
}

/* Attribute ::= SEQUENCE { type, SET OF value }, decoded back by OpenSSL. */
static X509_ATTRIBUTE *attribute(const char *oid_text, const unsigned char *value, int vlen)
{
	ASN1_OBJECT *oid = OBJ_txt2obj(oid_text, 1);
	unsigned char *oid_der = NULL, *der, *p;
	const unsigned char *q;
	int olen = i2d_ASN1_OBJECT(oid, &oid_der);
	int set_len = ASN1_object_size(1, vlen, V_ASN1_SET);
	int seq_len = ASN1_object_size(1, olen + set_len, V_ASN1_SEQUENCE);
	X509_ATTRIBUTE *attr;

	der = malloc((size_t)seq_len);
	p = der;
	ASN1_put_object(&p, 1, olen + set_len, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
	memcpy(p, oid_der, (size_t)olen);
	p += olen;
	ASN1_put_object(&p, 1, vlen, V_ASN1_SET, V_ASN1_UNIVERSAL);
	memcpy(p, value, (size_t)vlen);
	q = der;
	attr = d2i_X509_ATTRIBUTE(NULL, &q, seq_len);
	free(der);
	OPENSSL_free(oid_der);
	ASN1_OBJECT_free(oid);
	return attr;
}

int main(int argc, char **argv)
{
	static const char body[] = "Content-Type: text/plain\r\n\r\nplease encrypt to my "
				   "encryption certificate\r\n";
	X509 *signer, *enc, *chain;
	EVP_PKEY *key = NULL;
	CMS_ContentInfo *cms;
	CMS_SignerInfo *si;
	X509_ATTRIBUTE *attr;
	unsigned char *der;
	BIO *in, *out;
	FILE *fp;
	int dlen, ok;

	if (argc != 7) {
		fprintf(stderr, "usage: %s SIGNER.pem SIGNER.key ENCRYPTION.pem CHAIN.pem FROM OUT\n",
			argv[0]);
		return 2;
	}
	signer = load_cert(argv[1]);
	enc = load_cert(argv[3]);
	chain = load_cert(argv[4]);
	if ((fp = fopen(argv[2], "r")) != NULL) {
		key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
		fclose(fp);
	}
	if (signer == NULL || enc == NULL || chain == NULL || key == NULL) {
		fprintf(stderr, "make_pref_mail: cannot read the certificates or the key\n");
		return 1;
	}
	cms = CMS_sign(NULL, NULL, NULL, NULL, CMS_PARTIAL | CMS_DETACHED | CMS_STREAM);
	si = cms ? CMS_add1_signer(cms, signer, key, EVP_sha256(), 0) : NULL;
	der = pref_der(enc, &dlen);
	attr = der ? attribute("1.2.840.113549.1.9.16.2.11", der, dlen) : NULL;
	ok = si != NULL && attr != NULL && CMS_add1_cert(cms, enc) == 1 &&
	     CMS_add1_cert(cms, chain) == 1 && CMS_signed_add1_attr(si, attr) == 1;
	in = BIO_new_mem_buf(body, -1);
	out = BIO_new_file(argv[6], "wb");
	ok = ok && out != NULL && BIO_printf(out, "From: %s\r\nTo: pki@example.test\r\n"
					     "Subject: my certificates\r\nMessage-ID: "
					     "<pref@test.example>\r\n", argv[5]) > 0 &&
	     SMIME_write_CMS(out, cms, in, CMS_DETACHED | CMS_STREAM) == 1;
	BIO_free(out);
	BIO_free(in);
	X509_ATTRIBUTE_free(attr);
	free(der);
	CMS_ContentInfo_free(cms);
	EVP_PKEY_free(key);
	X509_free(signer);
	X509_free(enc);
	X509_free(chain);
	if (!ok) {
		fprintf(stderr, "make_pref_mail: cannot build the message\n");
		return 1;
	}
	return 0;
}

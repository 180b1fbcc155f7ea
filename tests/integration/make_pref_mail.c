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

#include "pref_attr.h"

static X509 *load_cert(const char *path)
{
	FILE *fp = fopen(path, "r");
	X509 *x = fp ? PEM_read_X509(fp, NULL, NULL, NULL) : NULL;

	if (fp)
		fclose(fp);
	return x;
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
	BIO *in, *out;
	FILE *fp;
	int ok;

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
	attr = pref_attribute(enc, PREF_IAS);
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

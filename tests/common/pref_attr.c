/* Test helper: the SMIMEEncryptionKeyPreference signed attribute (see pref_attr.h). */
#include "pref_attr.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

/* DER of the SMIMEEncryptionKeyPreference CHOICE naming x; caller frees; NULL on failure. */
static unsigned char *pref_der(X509 *x, enum pref_kind kind, int *len)
{
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(x);
	unsigned char *inner = NULL, *der = NULL, *p;
	int n = 0, tag;

	switch (kind) {
	case PREF_IAS: {
		unsigned char *a = NULL, *b = NULL;
		int na = i2d_X509_NAME(X509_get_issuer_name(x), &a);
		int nb = i2d_ASN1_INTEGER((ASN1_INTEGER *)X509_get0_serialNumber(x), &b);

		if (na > 0 && nb > 0 && (inner = OPENSSL_malloc((size_t)(na + nb))) != NULL) {
			memcpy(inner, a, (size_t)na);
			memcpy(inner + na, b, (size_t)nb);
			n = na + nb;
		}
		OPENSSL_free(a);
		OPENSSL_free(b);
		tag = 0;
		break;
	}
	case PREF_RKID:
		n = ski != NULL ? i2d_ASN1_OCTET_STRING(ski, &inner) : 0;
		tag = 1;
		break;
	default:
		if (ski != NULL) {
			n = ASN1_STRING_length(ski);
			inner = OPENSSL_memdup(ASN1_STRING_get0_data(ski), (size_t)n);
		}
		tag = 2;
		break;
	}
	if (inner != NULL && n > 0) {
		*len = ASN1_object_size(kind != PREF_SKI, n, tag);
		if ((der = malloc((size_t)*len)) != NULL) {
			p = der;
			ASN1_put_object(&p, kind != PREF_SKI, n, tag, V_ASN1_CONTEXT_SPECIFIC);
			memcpy(p, inner, (size_t)n);
		}
	}
	OPENSSL_free(inner);
	return der;
}

/* See pref_attr.h. */
X509_ATTRIBUTE *pref_attribute(X509 *x, enum pref_kind kind)
{
	ASN1_OBJECT *oid = OBJ_txt2obj("1.2.840.113549.1.9.16.2.11", 1);
	unsigned char *oid_der = NULL, *value = NULL, *der = NULL, *p;
	const unsigned char *q;
	X509_ATTRIBUTE *attr = NULL;
	int olen, vlen = 0, set_len, seq_len;

	if (oid == NULL || (olen = i2d_ASN1_OBJECT(oid, &oid_der)) <= 0 ||
	    (value = pref_der(x, kind, &vlen)) == NULL)
		goto out;
	/* Attribute ::= SEQUENCE { type OID, values SET OF ANY } */
	set_len = ASN1_object_size(1, vlen, V_ASN1_SET);
	seq_len = ASN1_object_size(1, olen + set_len, V_ASN1_SEQUENCE);
	if ((der = malloc((size_t)seq_len)) == NULL)
		goto out;
	p = der;
	ASN1_put_object(&p, 1, olen + set_len, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
	memcpy(p, oid_der, (size_t)olen);
	p += olen;
	ASN1_put_object(&p, 1, vlen, V_ASN1_SET, V_ASN1_UNIVERSAL);
	memcpy(p, value, (size_t)vlen);
	q = der;
	attr = d2i_X509_ATTRIBUTE(NULL, &q, seq_len);
out:
	free(der);
	free(value);
	OPENSSL_free(oid_der);
	ASN1_OBJECT_free(oid);
	return attr;
}

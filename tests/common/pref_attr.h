/* Test helper: the RFC 8551 SMIMEEncryptionKeyPreference signed attribute, built with OpenSSL. */
#ifndef SMIMEPUB_TEST_PREF_ATTR_H
#define SMIMEPUB_TEST_PREF_ATTR_H

#include <openssl/x509.h>

/* Which CHOICE of SMIMEEncryptionKeyPreference names the certificate. */
enum pref_kind {
	PREF_IAS,   /* [0] issuerAndSerialNumber */
	PREF_RKID,  /* [1] receipentKeyId (the subjectKeyIdentifier as an OCTET STRING) */
	PREF_SKI,   /* [2] subjectAltKeyIdentifier (the same, implicitly tagged) */
};

/*
 * The SMIMEEncryptionKeyPreference attribute (1.2.840.113549.1.9.16.2.11) naming x in the
 * given form, decoded back by OpenSSL (X509_ATTRIBUTE_create cannot take a context-tagged
 * value). Returns the attribute (caller frees) or NULL when x lacks what the form needs (a
 * subjectKeyIdentifier) or OpenSSL fails.
 */
X509_ATTRIBUTE *pref_attribute(X509 *x, enum pref_kind kind);

#endif

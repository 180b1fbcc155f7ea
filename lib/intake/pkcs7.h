/*
 * smimepub internal: how many certificates a DER PKCS#7 / CMS SignedData lists, counted from the
 * DER before OpenSSL decodes it, so that a bundle of thousands is refused without building
 * them (bundle.c for certificate inputs, message.c for the certificates a signature carries).
 */
#ifndef SMP_INTAKE_PKCS7_H
#define SMP_INTAKE_PKCS7_H

#include <stddef.h>

/*
 * The certificates in the certificates field of the ContentInfo / SignedData at data, counting
 * stopped past max; 0 when data is not of that shape or lists none (OpenSSL's decoder is the
 * judge of the rest: this only counts).
 */
size_t pkcs7_count_certs(const unsigned char *data, size_t len, size_t max);

#endif

/*
 * Internal: what the OpenSSL 3.0 key-decoding workaround (ossl30_keys.c) exposes beyond
 * include/smimepub/compat.h, for its tests.
 */
#ifndef SMIMEPUB_COMPAT_OSSL30_KEYS_H
#define SMIMEPUB_COMPAT_OSSL30_KEYS_H

/*
 * 1 while the workaround's own memory (the EC ASN.1 method, the cached EC groups) is allocated,
 * else 0. It is freed with the ENGINE, once smp_compat_release has run and the last key decoded
 * through it is freed; a test checks that this comes back to 0.
 */
int smp_ossl30_keys_allocated(void);

#endif

/* A UTF-8 validator for tests, written from RFC 3629 independently of
 * common/batch.c: it decodes each sequence by its bit pattern into a code
 * point and then applies the RFC's rules to the value (shortest form only,
 * no surrogates, nothing above U+10FFFF), where batch.c checks ranges of
 * the second byte. Each checks the other. */
#ifndef ROOST_TEST_REF_UTF8_H
#define ROOST_TEST_REF_UTF8_H

#include <stddef.h>
#include <stdint.h>

static inline int ref_utf8_valid(const char *s, size_t len)
{
	static const uint32_t shortest[5] = {0, 0, 0x80, 0x800, 0x10000};
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned char b = p[i];
		size_t n;
		uint32_t cp;

		if ((b & 0x80) == 0x00) {
			n = 1;
			cp = b;
		} else if ((b & 0xE0) == 0xC0) {
			n = 2;
			cp = b & 0x1F;
		} else if ((b & 0xF0) == 0xE0) {
			n = 3;
			cp = b & 0x0F;
		} else if ((b & 0xF8) == 0xF0) {
			n = 4;
			cp = b & 0x07;
		} else {
			return 0; /* a continuation byte, or 0xF8..0xFF */
		}
		if (len - i < n)
			return 0;
		for (size_t k = 1; k < n; k++) {
			if ((p[i + k] & 0xC0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + k] & 0x3F);
		}
		if (n > 1 && cp < shortest[n])
			return 0;
		if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
			return 0;
		i += n;
	}
	return 1;
}

#endif

#include "crc32c.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#define CRC32C__POLY 0x82F63B78u /* Castagnoli, reflected */

/* Slicing-by-8: table[k][b] is the CRC of byte b followed by k zero bytes,
 * so eight bytes fold into the CRC with eight independent look-ups. */
static uint32_t crc32c__table[8][256];
static bool crc32c__use_hw;
static pthread_once_t crc32c__once = PTHREAD_ONCE_INIT;

static void crc32c__init(void)
{
	for (uint32_t b = 0; b < 256; b++) {
		uint32_t c = b;
		for (int bit = 0; bit < 8; bit++)
			c = (c >> 1) ^ (CRC32C__POLY & (0u - (c & 1u)));
		crc32c__table[0][b] = c;
	}
	for (uint32_t b = 0; b < 256; b++)
		for (int k = 1; k < 8; k++) {
			uint32_t prev = crc32c__table[k - 1][b];
			crc32c__table[k][b] = (prev >> 8) ^ crc32c__table[0][prev & 0xff];
		}
#if defined(__x86_64__)
	crc32c__use_hw = __builtin_cpu_supports("sse4.2");
#endif
}

/* Works on the inverted CRC; the public function does the inversions. The
 * 64-bit loads assume a little-endian host. */
static uint32_t crc32c__sw(uint32_t crc, const uint8_t *p, size_t len)
{
	const uint32_t(*t)[256] = crc32c__table;
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t w;
		memcpy(&w, p, sizeof w);
		w ^= crc;
		crc = t[7][w & 0xff] ^ t[6][(w >> 8) & 0xff] ^ t[5][(w >> 16) & 0xff] ^
		      t[4][(w >> 24) & 0xff] ^ t[3][(w >> 32) & 0xff] ^ t[2][(w >> 40) & 0xff] ^
		      t[1][(w >> 48) & 0xff] ^ t[0][w >> 56];
	}
	while (len--)
		crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
	return crc;
}

#if defined(__x86_64__)
/* The SSE4.2 crc32 instruction implements exactly this polynomial and is
 * several times faster than the tables; the log checksums every payload. */
__attribute__((target("sse4.2"))) static uint32_t crc32c__hw(uint32_t crc, const uint8_t *p,
							     size_t len)
{
	uint64_t c = crc;
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t w;
		memcpy(&w, p, sizeof w);
		c = _mm_crc32_u64(c, w);
	}
	uint32_t c32 = (uint32_t)c;
	while (len--)
		c32 = _mm_crc32_u8(c32, *p++);
	return c32;
}
#endif

uint32_t crc32c_update(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc32c__once, crc32c__init);
#if defined(__x86_64__)
	if (crc32c__use_hw)
		return ~crc32c__hw(~crc, buf, len);
#endif
	return ~crc32c__sw(~crc, buf, len);
}

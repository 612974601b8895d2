/* CRC-32C (Castagnoli), used by the log and the on-disk formats. */
#ifndef ROOST_CRC32C_H
#define ROOST_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues crc over buf; start with crc = 0. */
uint32_t crc32c_update(uint32_t crc, const void *buf, size_t len);

#endif

// emu_api.h: the emulator's C interface to Go (package emu).
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
namespace emu {
struct KernelEntry;
}
extern "C" {
void emu_register(const emu::KernelEntry* ks, int n);
#endif
void emu_register_all(void);
void emu_register_dynamic_shared(void* (*addr)(void), size_t bytes);
int emu_kernel_count(void);
const char* emu_kernel_name(int i);
const char* emu_kernel_sig(int i);
// emu_set_inline runs every launch on the calling thread instead of the
// worker threads (the race detector's runtime hangs at exit on threads
// that C++ started and never joined).
void emu_set_inline(int on);
int emu_launch(int kernel, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned shmem,
               const uint64_t* args, int nargs, uint64_t seed, char* err, int errlen);
#ifdef __cplusplus
}
#endif

// Memory: C heap blocks, 256-byte aligned, with 256-byte red zones of 0xff
// bytes (NaN as float32, -1 as int32) before and after.
#ifdef __cplusplus
extern "C" {
#endif
uint64_t emu_alloc(size_t bytes);
void emu_free(uint64_t p);
// emu_redzone_damage returns the offset from p of the first byte of its
// red zones that is not 0xff (negative: before p), or 0 when both are
// intact.
long long emu_redzone_damage(uint64_t p, size_t bytes);
void emu_memset32(uint64_t p, uint32_t v, size_t n);
void emu_copy(uint64_t dst, uint64_t src, size_t bytes);
void emu_copy_in(uint64_t dst, const void* src, size_t bytes);
void emu_copy_out(void* dst, uint64_t src, size_t bytes);
void emu_repair_redzone(uint64_t p, size_t bytes);
uint32_t emu_tf32(float x);
#ifdef __cplusplus
}
#endif

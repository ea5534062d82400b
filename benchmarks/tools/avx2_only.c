/* avx2_only.so: run a process as if its CPU had AVX2 and FMA but no AVX-512, AVX-VNNI or AMX
 * (an AMD EPYC of the Zen 2 kind), so ONNX Runtime (MLAS), faiss, NumPy and PyTorch pick their
 * AVX2 kernels on a machine that has more.
 *
 *   gcc -shared -fPIC -O2 -o /tmp/avx2_only.so benchmarks/tools/avx2_only.c
 *   LD_PRELOAD=/tmp/avx2_only.so python -p no:faulthandler ...
 *
 * How: Linux's arch_prctl(ARCH_SET_CPUID, 0) makes the CPUID instruction fault (CPUs with the
 * "cpuid_fault" flag); the SIGSEGV handler runs the real CPUID with faulting briefly off, clears
 * the AVX-512/VNNI/AMX bits and steps over the instruction. The setting is kept across threads
 * and fork, reset at exec. Needs pytest's faulthandler off (it takes SIGSEGV). Sets the
 * environment variable AVX2_ONLY_ACTIVE=1 once it is on, so a run can check it worked.
 */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <cpuid.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static int set_cpuid(int enabled) { return (int)syscall(SYS_arch_prctl, ARCH_SET_CPUID, (unsigned long)enabled); }

static void mask(uint32_t leaf, uint32_t sub, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d) {
    if (leaf == 7 && sub == 0) {
        /* EBX: AVX512F 16, DQ 17, IFMA 21, PF 26, ER 27, CD 28, BW 30, VL 31 */
        *b &= ~((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 30) | (1u << 31));
        /* ECX: VBMI 1, VBMI2 6, VNNI 11, BITALG 12, VPOPCNTDQ 14 */
        *c &= ~((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14));
        /* EDX: 4VNNIW 2, 4FMAPS 3, VP2INTERSECT 8, AMX-BF16 22, AVX512-FP16 23, AMX-TILE 24, AMX-INT8 25 */
        *d &= ~((1u << 2) | (1u << 3) | (1u << 8) | (1u << 22) | (1u << 23) | (1u << 24) | (1u << 25));
    } else if (leaf == 7 && sub == 1) {
        /* EAX: AVX-VNNI 4, AVX512-BF16 5, AVX-IFMA 23; EDX: AVX-VNNI-INT8 4, AVX10 19 */
        *a &= ~((1u << 4) | (1u << 5) | (1u << 23));
        *d &= ~((1u << 4) | (1u << 19));
    } else if (leaf == 0xd && sub == 0) {
        /* XSAVE state components: no opmask/ZMM (5-7) nor AMX tile (17-18) state offered */
        *a &= ~((1u << 5) | (1u << 6) | (1u << 7) | (1u << 17) | (1u << 18));
    }
}

static void on_segv(int sig, siginfo_t *info, void *context) {
    ucontext_t *uc = (ucontext_t *)context;
    greg_t *r = uc->uc_mcontext.gregs;
    const unsigned char *ip = (const unsigned char *)r[REG_RIP];
    if (ip[0] != 0x0f || ip[1] != 0xa2) { /* a real segfault: default action */
        signal(sig, SIG_DFL);
        (void)info;
        return;
    }
    uint32_t leaf = (uint32_t)r[REG_RAX], sub = (uint32_t)r[REG_RCX], a, b, c, d;
    set_cpuid(1);
    __cpuid_count(leaf, sub, a, b, c, d);
    set_cpuid(0);
    mask(leaf, sub, &a, &b, &c, &d);
    r[REG_RAX] = a;
    r[REG_RBX] = b;
    r[REG_RCX] = c;
    r[REG_RDX] = d;
    r[REG_RIP] += 2;
}

__attribute__((constructor)) static void avx2_only(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_segv;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGSEGV, &action, NULL) != 0 || set_cpuid(0) != 0) {
        fprintf(stderr, "avx2_only: CPUID faulting is not available here\n");
        return;
    }
    setenv("AVX2_ONLY_ACTIVE", "1", 1);
}

# 32-bit x86 Linux. The baseline is i686 with x87 math; the sse2/avx2/avx512
# kernel files get their own flags (-msse2 -mfpmath=sse ...) and are chosen
# at run time. Tests run natively through the target's own loader (a 64-bit
# kernel with IA32 emulation runs them); qemu-i386 7.2 hangs in
# pthread_create, so under it use OMP_NUM_THREADS=1:
#   -DCMAKE_CROSSCOMPILING_EMULATOR="qemu-i386;-cpu;Nehalem;-L;/usr/i686-linux-gnu"
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR i686)
set(CMAKE_C_COMPILER i686-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER i686-linux-gnu-g++)
set(QKV_SYSROOT /usr/i686-linux-gnu)
include(${CMAKE_CURRENT_LIST_DIR}/linux-cross-common.cmake)
if(NOT CMAKE_CROSSCOMPILING_EMULATOR)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${QKV_SYSROOT}/lib/ld-linux.so.2 --library-path ${QKV_SYSROOT}/lib)
endif()

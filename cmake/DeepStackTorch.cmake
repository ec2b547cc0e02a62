# LibTorch, from one of two places:
#  - PyPI's torch wheel, the default that installer/setup-torch.sh installs in a folder of its own: MKL and
#    oneDNN kernels, scaled_dot_product_attention, and CUDA. DEEPSTACK_TORCH_DIR names its package folder
#    (.../site-packages/torch).
#  - a LibTorch CMake package through find_package(Torch): Debian's libtorch-dev 1.13 (CPU only, the small
#    option) or an unpacked LibTorch archive on CMAKE_PREFIX_PATH.
# The wheel's own TorchConfig.cmake insists on a CUDA toolkit although nothing here compiles CUDA; its libraries
# carry RPATHs to the CUDA libraries pip installed beside them, so they are linked directly instead.
# Either way the result is TORCH_LIBRARIES, TORCH_INCLUDE_DIRS and DEEPSTACK_TORCH_ORIGIN ("wheel" / "package").
set(DEEPSTACK_TORCH_DIR "" CACHE PATH "The torch package folder of a PyPI wheel to build against (empty: find_package(Torch))")

if(DEEPSTACK_TORCH_DIR)
    set(_torch_lib "${DEEPSTACK_TORCH_DIR}/lib")
    foreach(_name torch torch_cpu c10)
        if(NOT EXISTS "${_torch_lib}/lib${_name}.so")
            message(FATAL_ERROR "DEEPSTACK_TORCH_DIR=${DEEPSTACK_TORCH_DIR}: lib/lib${_name}.so is missing; "
                                "is this the torch folder of a PyPI wheel? (installer/setup-torch.sh makes one)")
        endif()
    endforeach()
    file(STRINGS "${DEEPSTACK_TORCH_DIR}/version.py" _torch_version_line REGEX "^__version__")
    string(REGEX REPLACE ".*['\"]([^'\"]+)['\"].*" "\\1" DEEPSTACK_TORCH_VERSION "${_torch_version_line}")
    # Linking libtorch.so (which itself needs libtorch_cuda.so) registers the CUDA backend where there is one.
    add_library(deepstack_torch_wheel INTERFACE IMPORTED)
    set_target_properties(deepstack_torch_wheel PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${DEEPSTACK_TORCH_DIR}/include;${DEEPSTACK_TORCH_DIR}/include/torch/csrc/api/include"
        INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${DEEPSTACK_TORCH_DIR}/include;${DEEPSTACK_TORCH_DIR}/include/torch/csrc/api/include"
        # The manylinux_2_28 wheels use the new libstdc++ ABI, as Debian's compiler does by default.
        INTERFACE_COMPILE_DEFINITIONS "_GLIBCXX_USE_CXX11_ABI=1")
    # The CUDA libraries the wheel's libraries need are found through their own RPATHs at run time; the linker
    # wants to see them too.
    file(GLOB _nvidia_libs LIST_DIRECTORIES true "${DEEPSTACK_TORCH_DIR}/../nvidia/*/lib")
    set(_link "-Wl,--no-as-needed" "${_torch_lib}/libtorch.so" "${_torch_lib}/libtorch_cpu.so" "${_torch_lib}/libc10.so" "-Wl,--as-needed"
              "-Wl,-rpath,${_torch_lib}")
    foreach(_dir ${_nvidia_libs})
        list(APPEND _link "-Wl,-rpath-link,${_dir}")
    endforeach()
    # The CUDA allocator's peak-memory counters (bench's peak_cuda_bytes) need c10_cuda and the CUDA runtime's
    # headers, which the wheel's nvidia packages carry: no CUDA toolkit either way.
    file(GLOB _cuda_runtime_headers "${DEEPSTACK_TORCH_DIR}/../nvidia/*/include/cuda_runtime_api.h"
                                    "${DEEPSTACK_TORCH_DIR}/../nvidia/cuda_runtime/include/cuda_runtime_api.h")
    set(DEEPSTACK_TORCH_CUDA_INCLUDE "")
    if(EXISTS "${_torch_lib}/libc10_cuda.so" AND _cuda_runtime_headers)
        list(GET _cuda_runtime_headers 0 _cuda_runtime_header)
        get_filename_component(DEEPSTACK_TORCH_CUDA_INCLUDE "${_cuda_runtime_header}" DIRECTORY)
        list(INSERT _link 4 "${_torch_lib}/libc10_cuda.so")
        message(STATUS "LibTorch's CUDA allocator statistics: on (CUDA runtime headers in ${DEEPSTACK_TORCH_CUDA_INCLUDE})")
    endif()
    set_target_properties(deepstack_torch_wheel PROPERTIES INTERFACE_LINK_LIBRARIES "${_link}")
    set(TORCH_LIBRARIES deepstack_torch_wheel)
    set(TORCH_INCLUDE_DIRS "${DEEPSTACK_TORCH_DIR}/include;${DEEPSTACK_TORCH_DIR}/include/torch/csrc/api/include")
    set(DEEPSTACK_TORCH_ORIGIN "wheel")
    message(STATUS "LibTorch ${DEEPSTACK_TORCH_VERSION} from the PyPI wheel in ${DEEPSTACK_TORCH_DIR}")
else()
    find_package(Torch REQUIRED)
    set(DEEPSTACK_TORCH_ORIGIN "package")
    message(STATUS "LibTorch ${Torch_VERSION} from ${Torch_DIR}")
endif()

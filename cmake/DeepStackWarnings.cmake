# deepstack_set_warnings(<target>): the project's warning set, applied to our own targets only
# (LibTorch and Qt headers are included as system headers and stay quiet). -Wundef: a version test such as
# `#if TORCH_VERSION_MAJOR >= 2` in a file that did not include <torch/version.h> would quietly take the wrong branch.
function(deepstack_set_warnings target)
    target_compile_options(${target} PRIVATE
        -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
        -Wcast-align -Woverloaded-virtual -Wimplicit-fallthrough -Wundef)
    if(DEEPSTACK_WARNINGS_AS_ERRORS)
        target_compile_options(${target} PRIVATE -Werror)
    endif()
endfunction()

# deepstack_sanitize(<target>): ASan + UBSan for the given target when DEEPSTACK_SANITIZE is on.
function(deepstack_sanitize target)
    if(DEEPSTACK_SANITIZE)
        target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer
                                                 -fno-sanitize-recover=undefined)
        target_link_options(${target} PRIVATE -fsanitize=address,undefined)
        if(DEEPSTACK_FUZZ)  # coverage for libFuzzer in the code it fuzzes
            target_compile_options(${target} PRIVATE -fsanitize=fuzzer-no-link)
        endif()
    endif()
endfunction()

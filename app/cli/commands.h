// The commands of deepstack-cli, each a thin layer over the core: `args` are the words after the command's name.
// A usage error throws std::invalid_argument (main prints it with the usage text, exit status 2); the core's
// errors (deepstack::Error) are the user's problem to fix (exit status 1); 0 when done.
#pragma once

#include <string>
#include <vector>

namespace deepstack::cli {

// Models: what a folder holds, getting one, asking it, timing it (model_commands.cpp).
int run_inspect(const std::vector<std::string>& args);
int run_pull(const std::vector<std::string>& args);
int run_tokenize(const std::vector<std::string>& args);
int run_chat(const std::vector<std::string>& args);
int run_bench(const std::vector<std::string>& args);

// Looking into an answer: where each layer looked, what each stacked group changes (stack_commands.cpp).
int run_attention(const std::vector<std::string>& args);
int run_ablate(const std::vector<std::string>& args);
int run_stack_map(const std::vector<std::string>& args);

// The demo model: its pages, its training, its evaluation (demo_model_commands.cpp).
int run_synth(const std::vector<std::string>& args);
int run_train(const std::vector<std::string>& args);
int run_evaluate(const std::vector<std::string>& args);

}  // namespace deepstack::cli

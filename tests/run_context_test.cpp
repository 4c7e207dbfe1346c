#include "twbench/run_context.h"

#include <gtest/gtest.h>
#include <sys/utsname.h>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace twbench {
namespace {

// Sets an environment variable for one scope and restores it after, so the
// test leaves the process as it found it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value == nullptr) {
      unsetenv(name);
    } else {
      setenv(name, value, 1);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

std::string UnameR() {
  FILE* pipe = popen("uname -r", "r");
  if (pipe == nullptr) return "";
  char line[256] = {};
  const bool read = std::fgets(line, sizeof(line), pipe) != nullptr;
  pclose(pipe);
  std::string text = read ? line : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
    text.pop_back();
  }
  return text;
}

TEST(RunContextTest, FieldsAreFilled) {
  const RunContext context = RunContext::Collect();
  EXPECT_FALSE(context.kernel.empty());
  EXPECT_FALSE(context.libuv_version.empty());
  EXPECT_FALSE(context.git_commit.empty());
  EXPECT_FALSE(context.host.empty());
  EXPECT_FALSE(context.utc.empty());
}

TEST(RunContextTest, KernelIsUnameRelease) {
  const std::string expected = UnameR();
  ASSERT_FALSE(expected.empty()) << "uname -r printed nothing";
  EXPECT_EQ(RunContext::Collect().kernel, expected);
}

TEST(RunContextTest, HostIsUnameNodename) {
  struct utsname names {};
  ASSERT_EQ(uname(&names), 0);
  EXPECT_EQ(RunContext::Collect().host, names.nodename);
}

TEST(RunContextTest, LibuvVersionIsTheLinkedOne) {
  EXPECT_EQ(RunContext::Collect().libuv_version, uv_version_string());
}

// Whether text has shape's form: a digit where shape has 'd', the same
// character elsewhere. (Not std::regex: with -O1 and ASan, GCC 12 warns
// maybe-uninitialized inside <regex>, an error under -Werror.)
bool HasShape(std::string_view text, std::string_view shape) {
  if (text.size() != shape.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool digit = text[i] >= '0' && text[i] <= '9';
    if (shape[i] == 'd' ? !digit : text[i] != shape[i]) return false;
  }
  return true;
}

TEST(RunContextTest, UtcIsIso8601AndNow) {
  const std::time_t before = std::time(nullptr);
  const std::string utc = RunContext::Collect().utc;
  const std::time_t after = std::time(nullptr);
  ASSERT_TRUE(HasShape(utc, "dddd-dd-ddTdd:dd:ddZ")) << utc;
  std::tm parsed{};
  ASSERT_NE(strptime(utc.c_str(), "%Y-%m-%dT%H:%M:%SZ", &parsed), nullptr);
  const std::time_t stamp = timegm(&parsed);
  EXPECT_GE(stamp, before);
  EXPECT_LE(stamp, after);
}

TEST(RunContextTest, EnvironmentOverridesGitCommit) {
  const ScopedEnv env("TWBENCH_GIT_COMMIT", "feedbeef1234-override");
  EXPECT_EQ(RunContext::Collect().git_commit, "feedbeef1234-override");
}

TEST(RunContextTest, EmptyEnvironmentKeepsCompiledCommit) {
  std::string compiled;
  {
    const ScopedEnv unset("TWBENCH_GIT_COMMIT", nullptr);
    compiled = RunContext::Collect().git_commit;
  }
  const ScopedEnv empty("TWBENCH_GIT_COMMIT", "");
  EXPECT_EQ(RunContext::Collect().git_commit, compiled);
  EXPECT_FALSE(compiled.empty());
}

}  // namespace
}  // namespace twbench

// Package scripts tests the shell scripts beside it.
package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// toolkit runs install-cuda-toolkit.sh with args and env, with a PATH of
// only the tools it needs plus fakes (name → shell script body); it
// returns the exit status, stdout and stderr.
func toolkit(t *testing.T, fakes map[string]string, env []string, args ...string) (int, string, string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("a Debian script")
	}
	bin := t.TempDir()
	for _, tool := range []string{"env", "bash", "sed", "id", "mktemp", "awk", "cat", "cmp", "diff", "cp", "rm"} {
		if _, ok := fakes[tool]; ok {
			continue
		}
		path, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("no %s", tool)
		}
		require.NoError(t, os.Symlink(path, filepath.Join(bin, tool)))
	}
	for name, body := range fakes {
		require.NoError(t, os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755))
	}
	cmd := exec.Command(filepath.Join(bin, "bash"), append([]string{"install-cuda-toolkit.sh"}, args...)...)
	cmd.Env = append([]string{"PATH=" + bin}, env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return code, stdout.String(), stderr.String()
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

const debian12 = "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"

// noApt is an apt-get that fails the test's run if called.
var noApt = map[string]string{"apt-get": `echo "apt-get $* called" >&2; exit 99`}

func TestSourcesOnly(t *testing.T) {
	for _, tc := range []struct {
		name, deb822, oneline, want822, wantOneline string
	}{
		{name: "fresh deb822",
			deb822: "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /k.gpg\n\n" +
				"Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\nComponents: main non-free-firmware\n\n" +
				"# Components: main\nTypes: deb\nURIs: http://other.invalid/repo\nSuites: stable\nComponents: extras\n",
			want822: "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\nComponents: main contrib non-free\nSigned-By: /k.gpg\n\n" +
				"Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\nComponents: main non-free-firmware contrib non-free\n\n" +
				"# Components: main\nTypes: deb\nURIs: http://other.invalid/repo\nSuites: stable\nComponents: extras\n"},
		{name: "one-line",
			oneline: "# deb http://mirror.invalid/debian bookworm main\n" +
				"deb http://mirror.invalid/debian bookworm main\n" +
				"deb-src http://mirror.invalid/debian bookworm main contrib\n" +
				"  deb [arch=amd64 signed-by=/k.gpg] http://mirror.invalid/debian bookworm-updates main non-free # updates\n" +
				"deb [ arch=amd64 ] http://mirror.invalid/debian-security bookworm-security main contrib non-free\n" +
				"deb http://other.invalid/flat ./\n" +
				"deb http://other.invalid/repo stable extras\n",
			wantOneline: "# deb http://mirror.invalid/debian bookworm main\n" +
				"deb http://mirror.invalid/debian bookworm main contrib non-free\n" +
				"deb-src http://mirror.invalid/debian bookworm main contrib non-free\n" +
				"  deb [arch=amd64 signed-by=/k.gpg] http://mirror.invalid/debian bookworm-updates main non-free contrib # updates\n" +
				"deb [ arch=amd64 ] http://mirror.invalid/debian-security bookworm-security main contrib non-free\n" +
				"deb http://other.invalid/flat ./\n" +
				"deb http://other.invalid/repo stable extras\n"},
		{name: "both, done already",
			deb822:  "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm\nComponents: main contrib non-free\n",
			oneline: "deb http://mirror.invalid/debian bookworm-backports main non-free contrib\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := []string{"CUDA_TOOLKIT_OS_RELEASE=" + writeFile(t, "os-release", debian12),
				"CUDA_TOOLKIT_SOURCES=" + filepath.Join(t.TempDir(), "none.sources"),
				"CUDA_TOOLKIT_SOURCES_LIST=" + filepath.Join(t.TempDir(), "none.list")}
			var deb822, oneline string
			if tc.deb822 != "" {
				deb822 = writeFile(t, "debian.sources", tc.deb822)
				env = append(env, "CUDA_TOOLKIT_SOURCES="+deb822)
			}
			if tc.oneline != "" {
				oneline = writeFile(t, "sources.list", tc.oneline)
				env = append(env, "CUDA_TOOLKIT_SOURCES_LIST="+oneline)
			}
			for run := 1; run <= 2; run++ { // the second run changes nothing
				code, stdout, stderr := toolkit(t, noApt, env, "--sources-only")
				require.Equal(t, 0, code, "run %d: %s%s", run, stdout, stderr)
				for _, f := range []struct{ path, in, want string }{{deb822, tc.deb822, tc.want822}, {oneline, tc.oneline, tc.wantOneline}} {
					if f.path == "" {
						continue
					}
					if f.want == "" {
						f.want = f.in
					}
					b, err := os.ReadFile(f.path)
					require.NoError(t, err)
					require.Equal(t, f.want, string(b), "run %d", run)
					if run == 2 || f.want == f.in {
						require.Contains(t, stdout, f.path+": its Debian entries already have contrib and non-free")
					} else {
						require.Contains(t, stdout, f.path+": adding contrib and non-free")
					}
				}
			}
		})
	}
}

// TestFails checks each failure is one line on stderr, status 1.
func TestFails(t *testing.T) {
	nonDebian := "deb http://other.invalid/repo stable extras\n"
	for _, tc := range []struct {
		name      string
		fakes     map[string]string
		osRelease string
		list      string
		want      string
	}{
		{"no apt", map[string]string{}, debian12, nonDebian, "install-cuda-toolkit.sh: apt-get not found: "},
		{"Ubuntu", noApt, "ID=ubuntu\nVERSION_ID=\"24.04\"\nPRETTY_NAME=\"Ubuntu 24.04 LTS\"\n", nonDebian,
			"but this is Ubuntu 24.04 LTS; install CUDA 11.8's nvcc and cuda.h by other means"},
		{"Debian 13", noApt, "ID=debian\nVERSION_ID=\"13\"\nPRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\n", nonDebian,
			"but this is Debian GNU/Linux 13 (trixie);"},
		{"no Debian entries", noApt, debian12, nonDebian, "no Debian entries (with component main) in "},
		{"no sources", noApt, debian12, "", "no apt sources to add contrib non-free to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list := filepath.Join(t.TempDir(), "none.list")
			if tc.list != "" {
				list = writeFile(t, "sources.list", tc.list)
			}
			env := []string{"CUDA_TOOLKIT_OS_RELEASE=" + writeFile(t, "os-release", tc.osRelease),
				"CUDA_TOOLKIT_SOURCES=" + filepath.Join(t.TempDir(), "none.sources"), "CUDA_TOOLKIT_SOURCES_LIST=" + list}
			code, _, stderr := toolkit(t, tc.fakes, env)
			require.Equal(t, 1, code, stderr)
			require.Contains(t, stderr, tc.want)
			require.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
		})
	}
}

// TestInstall runs the install with a fake apt-get (as root, by a fake id)
// and an nvcc of another release: it edits the sources, runs apt-get update
// and install, noninteractive, then finds no CUDA 11.8 and says so.
func TestInstall(t *testing.T) {
	log := filepath.Join(t.TempDir(), "apt.log")
	fakes := map[string]string{
		"apt-get": `echo "DEBIAN_FRONTEND=$DEBIAN_FRONTEND apt-get $*" >>` + log,
		"id":      `echo 0`,
		"nvcc":    `echo "Cuda compilation tools, release 12.4, V12.4.131"`,
	}
	deb822 := writeFile(t, "debian.sources", "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm\nComponents: main\n")
	env := []string{"CUDA_TOOLKIT_OS_RELEASE=" + writeFile(t, "os-release", debian12),
		"CUDA_TOOLKIT_SOURCES=" + deb822, "CUDA_TOOLKIT_SOURCES_LIST=" + filepath.Join(t.TempDir(), "none.list")}
	code, stdout, stderr := toolkit(t, fakes, env)
	require.Equal(t, 1, code, stdout)
	require.Contains(t, stdout, "adding contrib and non-free")
	b, err := os.ReadFile(log)
	require.NoError(t, err)
	require.Equal(t, "DEBIAN_FRONTEND=noninteractive apt-get update -q\n"+
		"DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nvidia-cuda-toolkit gcc g++\n", string(b))
	require.Equal(t, "install-cuda-toolkit.sh: installed nvidia-cuda-toolkit gcc g++, but nvcc --version does not say release 11.8 or /usr/include/cuda.h, gcc or g++ is missing\n", stderr)
}

// TestInstalledAlready: with nvcc 11.8, cuda.h, gcc and g++ it does nothing.
func TestInstalledAlready(t *testing.T) {
	if _, err := os.Stat("/usr/include/cuda.h"); err != nil {
		t.Skip("no /usr/include/cuda.h")
	}
	fakes := map[string]string{
		"nvcc": `echo "nvcc: NVIDIA (R) Cuda compiler driver"; echo "Cuda compilation tools, release 11.8, V11.8.89"`,
		"gcc":  `exit 0`,
		"g++":  `exit 0`,
	}
	for name, body := range noApt {
		fakes[name] = body
	}
	env := []string{"CUDA_TOOLKIT_OS_RELEASE=/nonexistent", "CUDA_TOOLKIT_SOURCES=/nonexistent", "CUDA_TOOLKIT_SOURCES_LIST=/nonexistent"}
	code, stdout, stderr := toolkit(t, fakes, env)
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "install-cuda-toolkit.sh: nvcc release 11.8, /usr/include/cuda.h, gcc and g++ are already installed; nothing to do\n", stdout)
}

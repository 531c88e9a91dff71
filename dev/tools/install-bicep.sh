#!/usr/bin/env bash
# Installs the pinned Bicep CLI into .tools/bicep/bicep (git-ignored) from the NuGet package
# Azure.Bicep.CommandLine.linux-x64, restored by the .NET SDK through a throwaway project: no binary download
# from anywhere but NuGet. Idempotent: does nothing when the pinned version is already there.
set -euo pipefail
cd "$(dirname "$0")/../.."

BICEP_VERSION="${BICEP_VERSION:-0.49.2}"
PACKAGE="Azure.Bicep.CommandLine.linux-x64"
target_dir=".tools/bicep"
target="$target_dir/bicep"

fail() {
  echo "install-bicep: $*" >&2
  exit 1
}

if [ -x "$target" ] && "$target" --version 2>/dev/null | grep -q "Bicep CLI version ${BICEP_VERSION} "; then
  echo "install-bicep: Bicep CLI ${BICEP_VERSION} is already at $target"
  exit 0
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) fail "only linux-x64 is supported (this is $(uname -s)-$(uname -m)); install Bicep yourself and set BICEP_PATH" ;;
esac

command -v dotnet >/dev/null 2>&1 ||
  fail "the .NET SDK (dotnet) is needed to restore $PACKAGE $BICEP_VERSION from NuGet; install it, or set BICEP_PATH"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cat >"$work/restore-bicep.csproj" <<PROJECT
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>net$(dotnet --version | cut -d. -f1,2)</TargetFramework>
  </PropertyGroup>
  <ItemGroup>
    <PackageDownload Include="$PACKAGE" Version="[$BICEP_VERSION]" />
  </ItemGroup>
</Project>
PROJECT

packages="${NUGET_PACKAGES:-$HOME/.nuget/packages}"
echo "install-bicep: restoring $PACKAGE $BICEP_VERSION with dotnet restore"
DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1 \
  dotnet restore "$work/restore-bicep.csproj" --packages "$packages" >"$work/restore.log" 2>&1 || {
  cat "$work/restore.log" >&2
  fail "dotnet restore of $PACKAGE $BICEP_VERSION failed (log above)"
}

package_dir="$packages/$(echo "$PACKAGE" | tr '[:upper:]' '[:lower:]')/$BICEP_VERSION"
source_binary="$(find "$package_dir" -type f -name bicep -path '*linux-x64*' 2>/dev/null | head -n 1)"
[ -n "$source_binary" ] || source_binary="$(find "$package_dir" -type f -name bicep 2>/dev/null | head -n 1)"
[ -n "$source_binary" ] || fail "no bicep binary found under $package_dir after the restore"

mkdir -p "$target_dir"
cp "$source_binary" "$target.tmp"
chmod +x "$target.tmp"
mv "$target.tmp" "$target"

version_line="$("$target" --version 2>&1)" || fail "$target does not run: $version_line"
echo "$version_line" | grep -q "Bicep CLI version ${BICEP_VERSION} " ||
  fail "$target reports '$version_line', expected version $BICEP_VERSION"
echo "install-bicep: $version_line at $target"

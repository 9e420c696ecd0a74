#!/usr/bin/env bash
# Builds the guest inputs of the emulator from Debian packages:
#   public/bios/{bios-256k.bin,bios.bin,vgabios-stdvga.bin}   (seabios)
#   public/guest/{vmlinuz,initrd.gz}                         (i386 kernel + busybox initramfs)
#   public/guest/disk.img                                    (MBR: FAT16 boot + ext4 root)
#   public/guest/manifest.json                               (sizes, sha256, package versions)
# Does nothing when all outputs exist and were built from this script and
# scripts/guest/* as they are now (their hash is in the manifest); --force rebuilds.
# Runs as root on Debian 12 (installs its host tools with apt-get). i386 packages
# are only downloaded (.cache/guest-debs/) and unpacked with dpkg-deb -x.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HERE=$ROOT/scripts/guest
PUB=$ROOT/public
DEBS=$ROOT/.cache/guest-debs
WORK=$ROOT/.cache/guest-build

FORCE=0
for a in "$@"; do
    case "$a" in
        --force) FORCE=1 ;;
        -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "unknown argument: $a" >&2; exit 2 ;;
    esac
done

OUTPUTS=(bios/bios-256k.bin bios/bios.bin bios/vgabios-stdvga.bin
    guest/vmlinuz guest/initrd.gz guest/disk.img guest/manifest.json)
# What the image is built from on this side: this script and scripts/guest/*.
INPUTS_SHA256=$(cd "$ROOT" && sha256sum scripts/build-guest.sh $(find scripts/guest -type f | LC_ALL=C sort) | sha256sum | cut -d' ' -f1)
if [ $FORCE = 0 ]; then
    missing=0
    for f in "${OUTPUTS[@]}"; do [ -s "$PUB/$f" ] || missing=1; done
    if [ $missing = 0 ] && grep -q "\"inputs\": \"$INPUTS_SHA256\"" "$PUB/guest/manifest.json"; then
        echo "build-guest: outputs present in public/ and up to date (use --force to rebuild)"
        exit 0
    fi
    [ $missing = 1 ] || echo "build-guest: scripts/build-guest.sh or scripts/guest/ changed since the last build: rebuilding" >&2
fi

log() { echo "build-guest: $*" >&2; }
die() { echo "build-guest: ERROR: $*" >&2; exit 1; }
T0=$(date +%s)

# Modules the initramfs loads (dependencies are added and ordered below). virtio_balloon: its
# free page hints let the host zero the guest's free memory before a state is saved.
MODULES=(crct10dif_common crct10dif_generic crc-t10dif crc64 crc64_rocksoft_generic
    crc64-rocksoft t10-pi nvme-core nvme
    crc16 mbcache jbd2 crc32c_generic ext4
    scsi_common scsi_mod libata ata_piix sd_mod
    virtio_pci virtio_balloon)
# Boot partition (FAT16) and free space left in the root file system.
FAT_START=2048 FAT_MIB=32 ROOT_FREE_MIB=96

# ---------------------------------------------------------------- host tools
[ "$(id -u)" = 0 ] || die "run as root (installs host packages with apt-get)"
HOST_PKGS=(syslinux syslinux-common mtools dosfstools e2fsprogs fdisk kmod binutils cpio gzip)
need=()
for p in "${HOST_PKGS[@]}"; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ $st == *"ok installed"* ]] || need+=("$p")
done

# apt-get update may fail for one suite (e.g. a mirror mid-sync) while the
# others hold everything: warn and go on.
apt_update() {
    log "apt-get update"
    if ! apt-get update -q >"$WORK/apt-update.log" 2>&1; then
        log "WARNING: apt-get update reported errors (continuing with the lists it got):"
        grep -E '^(E|W):|^Err:' "$WORK/apt-update.log" | sed 's/^/    /' >&2 || true
    fi
}
mkdir -p "$DEBS" "$WORK"
if [[ " $(dpkg --print-foreign-architectures | tr '\n' ' ') " != *" i386 "* ]]; then
    log "dpkg --add-architecture i386"
    dpkg --add-architecture i386
fi
# Update the lists when i386 has none yet, or when they are older than a day.
if [ ${#need[@]} -gt 0 ] || ! apt-cache show busybox-static:i386 >/dev/null 2>&1 ||
    [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*i386_Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
    apt_update
fi
if [ ${#need[@]} -gt 0 ]; then
    log "apt-get install ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >&2 ||
        die "could not install host packages: ${need[*]}"
fi

# ------------------------------------------------------- package resolution
# The kernel ABI (linux-image-6.1.0-NN-686) moves with updates: ask apt.
KPKG=$(apt-cache depends linux-image-686:i386 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9.]*-[0-9]*-686\)\(:i386\)\?$/\1/p' | head -1)
[ -n "$KPKG" ] || die "cannot resolve the kernel package from linux-image-686:i386"

# Libraries of nvme-cli and fio: follow Depends (library packages only,
# i.e. lib* and zlib1g) level by level; the files actually shipped are picked
# later from the ELF NEEDED entries.
lib_closure() {
    local -A seen=()
    local level=("$@") next d n
    while [ ${#level[@]} -gt 0 ]; do
        for d in "${level[@]}"; do seen[$d]=1; done
        next=()
        while read -r n; do
            n=${n%%:*}
            [[ $n == lib* || $n == zlib1g ]] || continue
            [ -n "${seen[$n]:-}" ] && continue
            seen[$n]=1
            next+=("$n")
        done < <(apt-cache depends --no-recommends --no-suggests --no-conflicts \
            --no-breaks --no-replaces --no-enhances "${level[@]/%/:i386}" |
            awk '/^ *\|?(Pre)?Depends:/ { gsub(/[<>]/, "", $2); print $2 }' | sort -u)
        level=("${next[@]}")
    done
    printf '%s\n' "${!seen[@]}" | sort
}
mapfile -t LIBPKGS < <(lib_closure nvme-cli fio)
I386_PKGS=("$KPKG" busybox-static coreutils "${LIBPKGS[@]}")

# Download each .deb once into the cache, under the name apt-get download
# gives it (NAME_VERSION_ARCH.deb, with the epoch's ":" written "%3a").
declare -A DEBFILE=() DEBVER=()
read_records() { # args: pkg[:arch] ...  -> fills DEBFILE/DEBVER
    local pkg="" ver="" arch=""
    while IFS= read -r line; do
        case "$line" in
            Package:*) pkg=${line#Package: } ;;
            Version:*) ver=${line#Version: } ;;
            Architecture:*) arch=${line#Architecture: } ;;
            "") [ -n "$pkg" ] && { DEBFILE[$pkg]=${pkg}_${ver//:/%3a}_$arch.deb; DEBVER[$pkg]=$ver; }; pkg="" ;;
        esac
    done < <(apt-cache show --no-all-versions "$@" 2>/dev/null; echo)
}
declare -A APTNAME=() # name:i386, or the bare name for Architecture: all
read_records "${I386_PKGS[@]/%/:i386}"
for p in "${I386_PKGS[@]}"; do APTNAME[$p]=$p:i386; done
read_records seabios
APTNAME[seabios]=seabios
fetch=()
for p in "${I386_PKGS[@]}" seabios; do
    if [ -z "${DEBFILE[$p]:-}" ]; then
        read_records "$p" # an Architecture: all package (e.g. libtirpc-common)
        APTNAME[$p]=$p
    fi
    [ -n "${DEBFILE[$p]:-}" ] || die "no candidate version for package $p (apt lists incomplete?)"
    [ -s "$DEBS/${DEBFILE[$p]}" ] || fetch+=("$p")
done
if [ ${#fetch[@]} -gt 0 ]; then
    log "downloading ${#fetch[@]} packages into .cache/guest-debs/"
    arch_of() { echo "${APTNAME[$1]}"; }
    args=()
    for p in "${fetch[@]}"; do args+=("$(arch_of "$p")"); done
    # apt-get download warns that it runs unsandboxed as root: harmless.
    if ! (cd "$DEBS" && apt-get download -q "${args[@]}" >/dev/null 2>"$WORK/download.log"); then
        # Retry one by one to name the package that could not be fetched.
        failed=()
        for p in "${fetch[@]}"; do
            [ -s "$DEBS/${DEBFILE[$p]}" ] && continue
            (cd "$DEBS" && apt-get download -q "$(arch_of "$p")" >/dev/null 2>&1) || failed+=("$p")
        done
        [ ${#failed[@]} -eq 0 ] || die "could not download: ${failed[*]} (see $WORK/download.log)"
    fi
fi
deb() { echo "$DEBS/${DEBFILE[$1]}"; }

# ------------------------------------------------------------------ unpack
rm -rf "$WORK/sys" "$WORK/kernel" "$WORK/seabios" "$WORK/initramfs" "$WORK/rootfs" "$WORK/out"
mkdir -p "$WORK/sys" "$WORK/kernel" "$WORK/seabios" "$WORK/out/bios" "$WORK/out/guest"
log "unpacking packages"
dpkg-deb -x "$(deb seabios)" "$WORK/seabios"
dpkg-deb -x "$(deb busybox-static)" "$WORK/sys"
dpkg-deb -x "$(deb coreutils)" "$WORK/sys"
for p in "${LIBPKGS[@]}"; do dpkg-deb -x "$(deb "$p")" "$WORK/sys"; done
# Only boot/ and lib/modules/ of the kernel package are used.
dpkg-deb --fsys-tarfile "$(deb "$KPKG")" | tar -x -C "$WORK/kernel" ./boot ./lib/modules
KVER=$(ls "$WORK/kernel/lib/modules")
[ "$(echo "$KVER" | wc -w)" = 1 ] || die "expected one kernel release, got: $KVER"
KMOD=$WORK/kernel/lib/modules/$KVER
BUSYBOX=$WORK/sys/bin/busybox
# i386 programs run natively where the host kernel runs 32-bit code; some x86-64 hosts cannot
# (no IA32 emulation, or a paravirtualised kernel without it): there qemu-user runs them.
I386=()
if ! "$BUSYBOX" true 2>/dev/null; then
    if ! command -v qemu-i386-static >/dev/null; then
        log "this host cannot run i386 programs: apt-get install qemu-user-static"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends qemu-user-static >&2 ||
            die "could not install qemu-user-static to run the i386 busybox"
    fi
    I386=(qemu-i386-static)
    "${I386[@]}" "$BUSYBOX" true || die "cannot run the i386 busybox on this host, natively or under qemu-i386-static"
    log "running i386 programs under qemu-i386-static (the host kernel runs no 32-bit code)"
fi
i386_in_root() { # root program args... : runs an i386 program of the root file system
    local root=$1 prog=$2; shift 2
    [ ${#I386[@]} = 0 ] && { chroot "$root" "$prog" "$@"; return; }
    # qemu-user inside the chroot (no binfmt handler needed), removed again after the run.
    local q=$root/.qemu-i386-static rc=0
    cp "$(command -v qemu-i386-static)" "$q"
    chroot "$root" /.qemu-i386-static "$prog" "$@" || rc=$?
    rm -f "$q"
    return $rc
}

# -------------------------------------------------------------------- BIOS
for f in bios-256k.bin bios.bin vgabios-stdvga.bin; do
    src=$(find "$WORK/seabios" -name "$f" | head -1)
    [ -n "$src" ] || die "seabios package has no $f"
    cp -L "$src" "$WORK/out/bios/$f"
done

# ------------------------------------------------------------ module order
# The .deb has no modules.dep: order by each module's "depends" so that every
# module comes after what it needs. Soft dependencies name crypto algorithms
# (crct10dif, crypto-crc32c): their providers (*_generic) are in MODULES,
# ahead of their users.
declare -A KO=() VISITED=()
while IFS= read -r f; do
    n=$(basename "$f" .ko); KO[${n//-/_}]=${f#"$KMOD"/}
done < <(find "$KMOD/kernel" -name '*.ko')
ORDER=()
visit() {
    local m=${1//-/_} d deps
    [ -n "${VISITED[$m]:-}" ] && return
    VISITED[$m]=1
    if [ -z "${KO[$m]:-}" ]; then
        grep -q "/${m}.ko\$\|/${1}.ko\$" "$KMOD/modules.builtin" 2>/dev/null && return
        die "module $1 is neither a .ko nor built in"
    fi
    deps=$(modinfo -F depends "$KMOD/${KO[$m]}" | tr , ' ')
    for d in $deps; do visit "$d"; done
    ORDER+=("${KO[$m]}")
}
for m in "${MODULES[@]}"; do visit "$m"; done
log "module load order: $(for k in "${ORDER[@]}"; do basename "$k" .ko; done | tr '\n' ' ')"

copy_modules() { # dest root
    local dst=$1/lib/modules/$KVER k
    mkdir -p "$dst"
    for k in "${ORDER[@]}"; do
        mkdir -p "$dst/$(dirname "$k")"
        cp "$KMOD/$k" "$dst/$k"
    done
    printf '%s\n' "${ORDER[@]}" >"$dst/load-order"
}

# --------------------------------------------------------------- initramfs
log "building initramfs"
IR=$WORK/initramfs
mkdir -p "$IR"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,newroot}
cp "$BUSYBOX" "$IR/bin/busybox"
# Relative links (busybox --install would point at the host's path).
for a in $("${I386[@]}" "$BUSYBOX" --list); do [ -e "$IR/bin/$a" ] || ln -s busybox "$IR/bin/$a"; done
install -m 0755 "$HERE/initramfs-init.sh" "$IR/init"
# The kernel opens /dev/console before /init runs.
mknod -m 600 "$IR/dev/console" c 5 1
copy_modules "$IR"
(cd "$IR" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -9 >"$WORK/out/guest/initrd.gz"
cp "$WORK/kernel/boot/vmlinuz-$KVER" "$WORK/out/guest/vmlinuz"

# ------------------------------------------------------------- root files
log "building root file system"
RF=$WORK/rootfs
mkdir -p "$RF"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,root,etc,mnt,var/tmp,run}
chmod 1777 "$RF/tmp" "$RF/var/tmp"
cp "$BUSYBOX" "$RF/bin/busybox"
# Symlinks for every applet at busybox's own paths (bin/sh, usr/bin/awk, ...).
for a in $("${I386[@]}" "$BUSYBOX" --list-full); do
    [ -e "$RF/$a" ] || ln -s /bin/busybox "$RF/$a"
done
# /sbin/init is busybox init (linked above): it runs rcS, keeps the shell on
# ttyS0 and carries out reboot/poweroff/halt, running rcK first.
mkdir -p "$RF/etc/init.d"
install -m 0644 "$HERE/inittab" "$RF/etc/inittab"
install -m 0755 "$HERE/rootfs-init.sh" "$RF/etc/init.d/rcS"
install -m 0755 "$HERE/rootfs-shutdown.sh" "$RF/etc/init.d/rcK"
mknod -m 600 "$RF/dev/console" c 5 1
mknod -m 666 "$RF/dev/null" c 1 3
cat >"$RF/etc/profile" <<'PROFILE'
export PS1='guest# ' PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=vt100
cd /root 2>/dev/null || cd /
PROFILE
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$RF/etc/passwd"
printf 'root:x:0:\n' >"$RF/etc/group"
echo guest >"$RF/etc/hostname"
copy_modules "$RF"

# nvme and fio with their shared-library closure: follow ELF NEEDED entries
# (and RUNPATH) through the unpacked packages, copying each library once.
SYS=$WORK/sys
cp -L "$SYS/usr/sbin/nvme" "$RF/usr/sbin/nvme"
cp -L "$SYS/usr/bin/fio" "$RF/usr/bin/fio"
mkdir -p "$RF/lib"
cp -L "$SYS/lib/ld-linux.so.2" "$RF/lib/ld-linux.so.2" # the i386 loader (PT_INTERP)
# fio links the libraries of its remote engines (Ceph's rbd and rados, GlusterFS, NBD, RDMA):
# with their own closure ~100 libraries, whose loading and C++ start-up took each fio run 5-10 s
# of the emulated CPU, for engines that need a network the guest does not have. Each is
# replaced by a stub of the same SONAME that defines what fio imports of it (the same symbols
# and versions) as a function that says so on stderr and exits 1; fio's own engines (libaio,
# psync, io_uring, ...) are untouched.
FIO_STUBBED=(libgfapi.so.0 libnbd.so.0 libibverbs.so.1 librdmacm.so.1 librados.so.2 librbd.so.1)
stub_library() { # elf real-library out : a stub of `real` defining what `elf` imports of it
    local elf=$1 real=$2 out=$3 soname w=$WORK/stub type sym name ver v
    soname=$(basename "$real")
    mkdir -p "$w"
    local -a vers
    mapfile -t vers < <(readelf -V -W "$elf" | awk -v f="$soname" '/File:/ { cur = ($5 == f) } cur && /Name:/ { print $3 }')
    local defined
    defined=$(readelf --dyn-syms -W "$real" | awk '$7 != "UND" { sub(/@.*/, "", $8); print $8 }' | sort -u)
    {
        echo '.text'
        echo 'fail: call 1f'
        echo '1: pop %ecx'
        echo '   add $(msg - 1b), %ecx'
        echo '   mov $4, %eax; mov $2, %ebx; mov $(msgend - msg), %edx; int $0x80' # write(2, msg)
        echo '   mov $252, %eax; mov $1, %ebx; int $0x80'                            # exit_group(1)
        printf 'msg: .ascii "%s: not in this guest image (fio'"'"'s remote engines are left out)\\n"\nmsgend:\n' "$soname"
    } >"$w/stub.s"
    local -A byver=()
    while read -r type sym; do
        name=${sym%%@*} ver=""
        [[ $sym == *@* ]] && ver=${sym#*@}
        if [ -n "$ver" ]; then
            printf '%s\n' "${vers[@]}" | grep -qx -- "$ver" || continue
        else
            grep -qx -- "$name" <<<"$defined" || continue
        fi
        [ "$type" = FUNC ] || die "stub of $soname: /${elf#"$RF"/} imports $name as $type, not a function"
        printf '.globl %s\n.type %s, @function\n%s: jmp fail\n' "$name" "$name" "$name" >>"$w/stub.s"
        byver[${ver:-none}]+="$name; "
    done < <(readelf --dyn-syms -W "$elf" | awk '$7 == "UND" && $8 != "" { print $4, $8 }')
    local script=()
    if [ ${#vers[@]} -gt 0 ]; then
        for v in "${vers[@]}"; do echo "$v { global: ${byver[$v]:-} };"; done >"$w/versions"
        script=(--version-script "$w/versions")
    fi
    as --32 -o "$w/stub.o" "$w/stub.s"
    ld -m elf_i386 -shared -soname "$soname" "${script[@]}" -o "$out" "$w/stub.o"
}
declare -A COPIED=()
add_needed() { # path inside the root
    local elf=$1 dirs=() so d found line origin
    origin=$(dirname "/$elf")
    while IFS= read -r line; do
        line=${line//\$ORIGIN/$origin}
        IFS=: read -ra more <<<"$line"
        dirs+=("${more[@]}")
    done < <(readelf -d "$RF/$elf" | sed -n 's/.*(R\(UN\)\?PATH).*\[\(.*\)\]/\2/p')
    dirs+=(/lib/i386-linux-gnu /usr/lib/i386-linux-gnu /lib /usr/lib)
    for so in $(readelf -d "$RF/$elf" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        [[ " ${FIO_STUBBED[*]} " == *" $so "* ]] && continue
        found=""
        for d in "${dirs[@]}"; do
            if [ -e "$SYS$d/$so" ]; then found=${d#/}/$so; break; fi
        done
        [ -n "$found" ] || die "$so (needed by /$elf) is in none of the unpacked packages"
        [ -n "${COPIED[$found]:-}" ] && continue
        COPIED[$found]=1
        mkdir -p "$RF/$(dirname "$found")"
        cp -L "$SYS/$found" "$RF/$found"
        add_needed "$found"
    done
}
# GNU dd at /bin/dd: busybox dd has no oflag=dsync, and an O_DIRECT + O_DSYNC write is how a
# program makes Linux send a write with Force Unit Access (the crash tests' raw writes). The
# busybox shell still runs its own applet for a bare `dd`; /bin/dd by its path is GNU dd.
rm -f "$RF/bin/dd"
cp -L "$SYS/bin/dd" "$RF/bin/dd"
add_needed bin/dd
add_needed usr/sbin/nvme
add_needed usr/bin/fio
for so in "${FIO_STUBBED[@]}"; do
    real=$(find "$SYS/lib/i386-linux-gnu" "$SYS/usr/lib/i386-linux-gnu" -maxdepth 1 -name "$so" | head -1)
    [ -n "$real" ] || die "$so (needed by /usr/bin/fio) is in none of the unpacked packages"
    # In /usr/lib, not where Debian puts the real one: no package's file list claims the stub.
    stub_library "$RF/usr/bin/fio" "$real" "$RF/usr/lib/$so"
done
log "fio's remote-engine libraries replaced by stubs: ${FIO_STUBBED[*]}"
LIBS_KIB=$(cd "$RF" && du -ckL lib/ld-linux.so.2 "${!COPIED[@]}" | tail -1 | cut -f1)
log "shipped ${#COPIED[@]} shared libraries ($((LIBS_KIB / 1024)) MiB)"

# Check: the i386 binaries start in the root (the host runs 32-bit code).
NVME_VER=$(i386_in_root "$RF" /usr/sbin/nvme version 2>&1) ||
    die "nvme does not run in the root: $NVME_VER"
FIO_VER=$(i386_in_root "$RF" /usr/bin/fio --version 2>&1) || die "fio does not run in the root: $FIO_VER"
DD_VER=$(i386_in_root "$RF" /bin/dd --version 2>&1) || die "dd does not run in the root: $DD_VER"
log "check: $(echo "$NVME_VER" | head -1); fio $FIO_VER; $(echo "$DD_VER" | head -1)"

# ------------------------------------------------------------- disk image
# MBR + FAT16 (bootable, syslinux) + ext4 root, written into the plain file
# with no loop device and no mount.
log "building disk image"
ROOT_USED_MIB=$(( $(du -sk "$RF" | cut -f1) / 1024 ))
ROOT_MIB=$(( (ROOT_USED_MIB + ROOT_FREE_MIB + 15) / 16 * 16 )) # ext4 overhead fits in the rounding
ROOT_START=$(( FAT_START + FAT_MIB * 2048 ))
IMG=$WORK/out/guest/disk.img
rm -f "$IMG"
truncate -s $(( (ROOT_START + ROOT_MIB * 2048) * 512 )) "$IMG"
sfdisk --no-reread --no-tell-kernel -q "$IMG" <<EOF
label: dos
start=$FAT_START, size=$((FAT_MIB * 2048)), type=e, bootable
start=$ROOT_START, size=$((ROOT_MIB * 2048)), type=83
EOF
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$IMG" bs=440 count=1 conv=notrunc status=none
mkfs.fat -F 16 -n BOOT -h $FAT_START --offset=$FAT_START "$IMG" $((FAT_MIB * 1024)) >/dev/null 2>&1
FATIMG="$IMG@@$((FAT_START * 512))"
export MTOOLS_SKIP_CHECK=1
mcopy -i "$FATIMG" "$WORK/out/guest/vmlinuz" ::/vmlinuz
mcopy -i "$FATIMG" "$WORK/out/guest/initrd.gz" ::/initrd.gz
mcopy -i "$FATIMG" "$HERE/syslinux.cfg" ::/syslinux.cfg
syslinux --offset $((FAT_START * 512)) --install "$IMG"
mke2fs -q -F -t ext4 -b 4096 -L root -d "$RF" -E offset=$((ROOT_START * 512)) "$IMG" "${ROOT_MIB}M"

# --------------------------------------------------------------- manifest
ver() { echo "${DEBVER[$1]}"; }
{
    echo '{'
    printf '  "inputs": "%s",\n' "$INPUTS_SHA256"
    echo '  "files": {'
    first=1
    for f in "${OUTPUTS[@]}"; do
        [ "$f" = guest/manifest.json ] && continue
        [ $first = 1 ] || echo ','
        first=0
        printf '    "%s": { "size": %s, "sha256": "%s" }' "$f" \
            "$(stat -c %s "$WORK/out/$f")" "$(sha256sum "$WORK/out/$f" | cut -d' ' -f1)"
    done
    echo
    echo '  },'
    echo '  "packages": {'
    printf '    "kernel": { "package": "%s", "version": "%s", "release": "%s" },\n' "$KPKG" "$(ver "$KPKG")" "$KVER"
    printf '    "busybox-static": "%s",\n' "$(ver busybox-static)"
    printf '    "coreutils": "%s",\n' "$(ver coreutils)"
    printf '    "nvme-cli": "%s",\n' "$(ver nvme-cli)"
    printf '    "fio": "%s",\n' "$(ver fio)"
    printf '    "seabios": "%s"\n' "$(ver seabios)"
    echo '  },'
    echo '  "disk": {'
    printf '    "boot": { "partition": 1, "type": "fat16", "startSector": %s, "sectors": %s },\n' $FAT_START $((FAT_MIB * 2048))
    printf '    "root": { "partition": 2, "type": "ext4", "startSector": %s, "sectors": %s },\n' $ROOT_START $((ROOT_MIB * 2048))
    echo '    "syslinuxLabels": ["nvme", "ide"],'
    echo '    "defaultLabel": "nvme",'
    echo '    "rootReadyMarker": "V86NVME-ROOT-READY root=",'
    echo '    "shellPrompt": "guest# "'
    echo '  },'
    printf '  "modules": [%s]\n' "$(for k in "${ORDER[@]}"; do printf '"%s",' "$(basename "$k" .ko)"; done | sed 's/,$//')"
    echo '}'
} >"$WORK/out/guest/manifest.json"

# Move the finished outputs into public/ (nothing half-built lands there).
mkdir -p "$PUB/bios" "$PUB/guest"
for f in "${OUTPUTS[@]}"; do mv -f "$WORK/out/$f" "$PUB/$f"; done
rm -rf "$WORK/sys" "$WORK/kernel" "$WORK/seabios" "$WORK/initramfs" "$WORK/rootfs" "$WORK/out"
log "done in $(( $(date +%s) - T0 )) s:"
(cd "$PUB" && ls -l "${OUTPUTS[@]}") >&2

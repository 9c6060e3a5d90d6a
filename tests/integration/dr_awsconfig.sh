#!/bin/bash
# AWS configuration the way the AWS tools read it, against RadosGW:
#  a. endpoint_url and region from the profile in ~/.aws/config, keys from
#     ~/.aws/credentials (the pre-fix build sent the requests to AWS);
#  b. a services section (services = NAME, [services NAME] s3 =
#     endpoint_url = ...) of a named profile;
#  c. AWS_ENDPOINT_URL_S3 wins over the configured endpoint;
#  d. an EC2 instance role: IMDSv2 (a session token on every request) from
#     a fake metadata service (tests/s3/fakemeta.js) handing out a real
#     RadosGW user's keys that expire: a mount keeps working after the
#     first key is deleted from RadosGW, because drfs fetched the second
#     before the first expired;
#  e. a container role (AWS_CONTAINER_CREDENTIALS_FULL_URI + an
#     authorization token file); a wrong token and a forbidden URI are
#     refused clearly;
#  f. a web identity (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, STS at
#     AWS_ENDPOINT_URL_STS);
#  g. AWS_CA_BUNDLE and ca_bundle: an https endpoint signed by a private CA
#     is refused without it and used with it;
#  h. no secret - key, session token, authorization or identity token -
#     ever appears in anything drfs printed.
#
# local: skipped (S3 configuration); the s3 variant runs it.
source "$(dirname "$0")/lib.sh"
[ "$DRFS_TEST_BACKEND" = s3 ] || skip "AWS configuration is S3's (see the s3 variant)"
make_repo
command -v node >/dev/null || skip "node is not installed"
python3 -c 'import boto3' 2>/dev/null || skip "python3-boto3 is not installed"
EP=$DRFS_TEST_S3_ENDPOINT
AK=$AWS_ACCESS_KEY_ID
SK=$AWS_SECRET_ACCESS_KEY
SECRETS=("$SK")

SRC=$T/src
mkdir -p "$SRC"
seeded_bytes "$SEED" $((1 << 20)) >"$SRC/f"
echo small >"$SRC/g"

# noenv CMD... — CMD with no AWS settings from the environment but HOME
noenv() {
	env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
		-u AWS_ENDPOINT_URL_S3 -u AWS_ENDPOINT_URL -u AWS_REGION \
		-u AWS_DEFAULT_REGION -u AWS_PROFILE -u AWS_CA_BUNDLE \
		-u AWS_CONFIG_FILE -u AWS_SHARED_CREDENTIALS_FILE HOME="$T/home" "$@"
}
# cycle NAME URL [ENV...] — init, backup, restore through URL, each must work
cycle() {
	local name=$1 url=$2
	shift 2
	noenv "$@" "$DRFS" init "$url" --cache-dir "$T/c-$name" >"$T/$name.init.out" 2>"$T/$name.init.err" ||
		{ cat "$T/$name.init.err" >&2; fail "$name: init failed"; }
	noenv "$@" "$DRFS" backup "$url" "$SRC" --cache-dir "$T/c-$name" >"$T/$name.b.out" 2>"$T/$name.b.err" ||
		{ cat "$T/$name.b.err" >&2; fail "$name: backup failed"; }
	noenv "$@" "$DRFS" restore "$url" latest "$T/r-$name" --cache-dir "$T/c-$name" -q \
		>"$T/$name.r.out" 2>"$T/$name.r.err" ||
		{ cat "$T/$name.r.err" >&2; fail "$name: restore failed"; }
	treecmp "$SRC" "$T/r-$name" >/dev/null || fail "$name: the restore differs"
	info "$name: init, backup, restore ok"
}
bucket() { echo "s3://drfs-test-cfg-$(_rand_lower 10)/"; }

# ---- a, b, c: ~/.aws/config -------------------------------------------------------
mkdir -p "$T/home/.aws"
cat >"$T/home/.aws/credentials" <<EOF
[default]
aws_access_key_id = $AK
aws_secret_access_key = $SK
[svc]
aws_access_key_id = $AK
aws_secret_access_key = $SK
[dead]
aws_access_key_id = $AK
aws_secret_access_key = $SK
EOF
cat >"$T/home/.aws/config" <<EOF
[default]
region = us-east-1
endpoint_url = $EP
[profile svc]
region = us-east-1
services = local-rgw
endpoint_url = http://127.0.0.1:1
[services local-rgw]
s3 =
  endpoint_url = $EP
[profile dead]
region = us-east-1
endpoint_url = http://127.0.0.1:1
EOF
chmod 600 "$T/home/.aws/credentials"
cycle profile-endpoint "$(bucket)"
cycle services-section "$(bucket)" AWS_PROFILE=svc
cycle env-wins "$(bucket)" AWS_PROFILE=dead AWS_ENDPOINT_URL_S3="$EP"
mv "$T/home/.aws" "$T/home/aws.off"

# ---- d: IMDSv2, with a key that is deleted after the refresh ------------------------
need_rgw_admin
rgw_user imds
IU=$RGW_UID K1=$RGW_AK S1=$RGW_SK
K2="AK$(_rand_lower 16 | tr a-z A-Z)" S2=$(_rand_lower 40)
rgw_admin key create --uid="$IU" --key-type=s3 --access-key="$K2" --secret="$S2" >/dev/null
SECRETS+=("$S1" "$S2")
IB=drfs-test-imds-$(_rand_lower 10)
s3py "s3.create_bucket(Bucket='$IB')
s3.put_bucket_policy(Bucket='$IB', Policy=json.dumps({'Version': '2012-10-17', 'Statement': [{
    'Effect': 'Allow', 'Principal': {'AWS': ['arn:aws:iam:::user/$IU']}, 'Action': 's3:*',
    'Resource': ['arn:aws:s3:::$IB', 'arn:aws:s3:::$IB/*']}]}))"
MPORT=$(free_port)
: >"$T/meta.log"
CTR_TOKEN="ctr-auth-$(_rand_lower 12)"
JWT="jwt-$(_rand_lower 24)"
SECRETS+=("$CTR_TOKEN" "$JWT")
bg_start env FM_KEYS="$K1:$S1,$K2:$S2" FM_TTL_S=10 FM_AUTH="$CTR_TOKEN" \
	FM_WEB_TOKEN="$JWT" FM_ROLE_ARN=arn:aws:iam::111122223333:role/drfs \
	node "$LIB_DIR/../s3/fakemeta.js" "$MPORT" "$T/meta.log"
wait_line "$T/meta.log" '"ready"' "the fake metadata service"
IMDS=(AWS_EC2_METADATA_DISABLED=false AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:$MPORT
	AWS_ENDPOINT_URL_S3="$EP" AWS_REGION=us-east-1)
cycle imds "s3://$IB/a/" "${IMDS[@]}"
# a mount across the credentials' refresh point (10 s, refreshed 5 s before),
# from a metadata service of its own: its first fetch gets the first key,
# every later one the second
REPO=s3://$IB/m/
noenv "${IMDS[@]}" "$DRFS" init "$REPO" --cache-dir "$T/c-mount" >/dev/null 2>&1
MPORT2=$(free_port)
: >"$T/meta2.log"
bg_start env FM_KEYS="$K1:$S1,$K2:$S2" FM_TTL_S=10 \
	node "$LIB_DIR/../s3/fakemeta.js" "$MPORT2" "$T/meta2.log"
wait_line "$T/meta2.log" '"ready"' "the mount's fake metadata service"
IMDS2=(AWS_EC2_METADATA_DISABLED=false AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:$MPORT2
	AWS_ENDPOINT_URL_S3="$EP" AWS_REGION=us-east-1)
mkdir -p "$T/mnt"
noenv "${IMDS2[@]}" "$DRFS" mount "$REPO" "$T/mnt" --cache-dir "$T/c-mount" \
	>"$T/mount.out" 2>"$T/mount.err" || { cat "$T/mount.err" >&2; fail "mount with IMDS credentials"; }
for _ in $(seq 1 100); do mountpoint -q "$T/mnt" && break; sleep 0.1; done
mountpoint -q "$T/mnt" || fail "not mounted: $(cat "$T/mount.err")"
cp "$SRC/f" "$T/mnt/now/first"
"$DRFS" snapshot "$T/mnt" >/dev/null || fail "snapshot 1 with the first key"
sleep 7
# the first key is gone: only a refreshed credential can work now
rgw_admin key rm --uid="$IU" --key-type=s3 --access-key="$K1" >/dev/null
cp "$SRC/g" "$T/mnt/now/second"
"$DRFS" snapshot "$T/mnt" >/dev/null || fail "snapshot 2 after the first key was deleted (credentials not refreshed)"
umount_repo "$T/mnt"
fetches=$(grep -c '"imds-creds","ok":true' "$T/meta2.log")
[ "$fetches" -gt 1 ] || fail "the mount never fetched new credentials"
grep -q '"ok":false' "$T/meta.log" "$T/meta2.log" &&
	fail "a metadata request without the IMDSv2 token: $(grep -h '"ok":false' "$T/meta.log" "$T/meta2.log")"
noenv "${IMDS[@]}" "$DRFS" restore "$REPO" latest "$T/r-mount" --cache-dir "$T/c-mount2" -q ||
	fail "restore of the mount's snapshots"
cmp "$SRC/g" "$T/r-mount/second" || fail "the second snapshot's file differs"
info "imds: $fetches credential fetch(es) by the mount; its first key deleted mid-mount, no request failed"

# ---- e: container credentials ---------------------------------------------------------
printf '%s\n' "$CTR_TOKEN" >"$T/ctr-token"
CTR=(AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:$MPORT/container-creds
	AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="$T/ctr-token" AWS_ENDPOINT_URL_S3="$EP"
	AWS_REGION=us-east-1)
cycle container "s3://$IB/c/" "${CTR[@]}"
printf 'wrong-token\n' >"$T/bad-token"
run_nocrash "container with a wrong token" noenv AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:$MPORT/container-creds \
	AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="$T/bad-token" AWS_ENDPOINT_URL_S3="$EP" \
	"$DRFS" snapshots "s3://$IB/c/" --cache-dir "$T/c-container"
[ "$RC" = 1 ] && grep -q 'container credentials endpoint.*HTTP 401' "$T/last.err" ||
	fail "a refused container token is not reported clearly: $(cat "$T/last.err")"
run_nocrash "container at a forbidden URI" noenv AWS_CONTAINER_CREDENTIALS_FULL_URI=http://10.1.2.3/creds \
	AWS_ENDPOINT_URL_S3="$EP" "$DRFS" snapshots "s3://$IB/c/" --cache-dir "$T/c-container"
[ "$RC" = 1 ] && grep -q 'refused: http only to a loopback' "$T/last.err" ||
	fail "a forbidden container URI is not refused: $(cat "$T/last.err")"
cp "$T/last.err" "$T/ctr-bad.err"

# ---- f: web identity -----------------------------------------------------------------
printf '%s\n' "$JWT" >"$T/jwt"
cycle web-identity "s3://$IB/w/" AWS_WEB_IDENTITY_TOKEN_FILE="$T/jwt" \
	AWS_ROLE_ARN=arn:aws:iam::111122223333:role/drfs AWS_ENDPOINT_URL_STS=http://127.0.0.1:$MPORT \
	AWS_ENDPOINT_URL_S3="$EP" AWS_REGION=us-east-1
grep -q '"sts","ok":true' "$T/meta.log" || fail "STS was never asked"

# ---- g: a private CA -------------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=drfs-test-ca \
	-keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$T/srv.key" \
	-out "$T/srv.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$T/san"
openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
	-days 2 -extfile "$T/san" -out "$T/srv.pem" 2>/dev/null
TPORT=$(free_port)
bg_start env FI_TLS_CERT="$T/srv.pem" FI_TLS_KEY="$T/srv.key" FI_LIFETIME_S=900 \
	node "$LIB_DIR/../s3/faultproxy.js" "$TPORT" "${EP##*:}" 2>"$T/tls.err"
wait_line "$T/tls.err" faultproxy "the TLS proxy"
HTTPS=https://127.0.0.1:$TPORT
TB=$(bucket)
run_nocrash "https without the CA" env -u AWS_CA_BUNDLE AWS_ENDPOINT_URL_S3="$HTTPS" "$DRFS" init "$TB" --cache-dir "$T/c-tls0"
[ "$RC" = 1 ] && grep -q 'TLS verification failed' "$T/last.err" ||
	fail "a private CA was not refused: $(cat "$T/last.err")"
cycle ca-bundle "$TB" AWS_CA_BUNDLE="$T/ca.pem" AWS_ACCESS_KEY_ID="$AK" \
	AWS_SECRET_ACCESS_KEY="$SK" AWS_ENDPOINT_URL_S3="$HTTPS" AWS_REGION=us-east-1
mkdir -p "$T/home/.aws"
printf '[default]\nregion = us-east-1\nca_bundle = %s\nendpoint_url = %s\n' "$T/ca.pem" "$HTTPS" \
	>"$T/home/.aws/config"
cycle ca-bundle-config "$(bucket)" AWS_ACCESS_KEY_ID="$AK" AWS_SECRET_ACCESS_KEY="$SK"

# ---- h: no secret in anything drfs printed ------------------------------------------------
for s in "${SECRETS[@]}"; do
	[ -n "$s" ] || continue
	if grep -rlF -- "$s" "$T"/*.out "$T"/*.err >/dev/null 2>&1; then
		fail "a secret appears in drfs's output: $(grep -rlF -- "$s" "$T"/*.out "$T"/*.err | head -n 3)"
	fi
done
for f in "$T"/*.out "$T"/*.err; do
	grep -qE 'session-[0-9a-f]{16}' "$f" && fail "a session token appears in $f"
done
info "no key, token or session token in $(ls "$T"/*.out "$T"/*.err | wc -l) output files"
echo "dr_awsconfig: ok"

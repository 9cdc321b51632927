"""Oracle safety net, loaded via PYTHONPATH (also by the `aws` CLI child).
SKYORACLE_NO_NET=1: refuse every AF_INET/AF_INET6 connect.
SKYORACLE_AWS_REFRESH=ok|fail: botocore temp-credential refresh (assume-role,
web-identity, sso, container-role) returns fake creds / raises; the provider's
`method` string (what SkyPilot parses) is untouched.
SKYORACLE_FAKE_IMDS=1: pretend EC2 IMDS hands out an instance role."""
import os
import socket
import sys

if os.environ.get('SKYORACLE_NO_NET') == '1':
    def _wrap(orig):
        def f(self, address):
            if self.family in (socket.AF_INET, socket.AF_INET6):
                raise ConnectionRefusedError(f'skyoracle: no network {address!r}')
            return orig(self, address)
        return f
    socket.socket.connect = _wrap(socket.socket.connect)
    socket.socket.connect_ex = _wrap(socket.socket.connect_ex)

_MODE = os.environ.get('SKYORACLE_AWS_REFRESH')
_IMDS = os.environ.get('SKYORACLE_FAKE_IMDS') == '1'


def _patch(mod):
    import datetime

    def meta():
        exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=6)
        return {'access_key': 'ASIAORACLEFAKE00000X', 'secret_key': 'x' * 40,
                'token': 'FAKE', 'expiry_time': exp.strftime('%Y-%m-%dT%H:%M:%SZ')}

    def protected_refresh(self, is_mandatory):
        if _MODE == 'fail':
            raise RuntimeError('skyoracle: credential refresh disabled')
        self._set_from_data(meta())
        self._frozen_credentials = mod.ReadOnlyCredentials(
            self._access_key, self._secret_key, self._token, getattr(self, '_account_id', None))

    def create_fetcher(self, full_uri, *a, **k):
        def fetch():
            if _MODE == 'fail':
                raise mod.CredentialRetrievalError(provider='container-role', error_msg='skyoracle')
            return meta()
        return fetch
    mod.RefreshableCredentials._protected_refresh = protected_refresh
    mod.ContainerProvider._create_fetcher = create_fetcher
    if _IMDS:
        mod.InstanceMetadataProvider.load = lambda self: mod.RefreshableCredentials.create_from_metadata(
            metadata=meta(), method='iam-role', refresh_using=meta)


if _MODE in ('ok', 'fail') or _IMDS:
    import importlib.abc
    import importlib.util

    class _Hook(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != 'botocore.credentials':
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            orig = spec.loader.exec_module
            def exec_module(module):
                orig(module)
                _patch(module)
            spec.loader.exec_module = exec_module
            return spec
    sys.meta_path.insert(0, _Hook())

import pytest
from fvcore.common.registry import Registry

from partreid.utils.registry import get_registered


def test_unknown_name_lists_registered_names():
    reg = Registry("THING")

    @reg.register()
    class Alpha:
        pass

    @reg.register()
    class Beta:
        pass

    assert get_registered(reg, "Alpha") is Alpha
    with pytest.raises(KeyError, match=r"No object named 'Gamma' in the THING registry \(config key X.Y\)\. Registered: Alpha, Beta"):
        get_registered(reg, "Gamma", "X.Y")


@pytest.mark.parametrize("key,value,registry", [
    ("MODEL.BACKBONE.NAME", "NoNet", "BACKBONE"),
    ("MODEL.META_ARCHITECTURE", "NoArch", "META_ARCH"),
    ("MODEL.MIXER.NAME", "NoSuchMixer", "MIXER"),
])
def test_builders_name_the_config_key(key, value, registry):
    from partreid.config import get_cfg
    from partreid.modeling.backbone.build import build_backbone
    from partreid.modeling.meta_arch.build import build_model
    from partreid.modeling.mixers.build import build_mixer

    cfg = get_cfg()
    cfg.merge_from_list([key, value])
    build = {"BACKBONE": build_backbone, "META_ARCH": build_model, "MIXER": build_mixer}[registry]
    with pytest.raises(KeyError, match=f"{value}.*{registry}.*{key}"):
        build(cfg)

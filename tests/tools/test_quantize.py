"""tools/deployment/quantize.py refuses wrong files and values in one line
before any work. Quantizing the tiny model, and the tools on its int8 IR:
tests/deploy/runtime/test_quantize.py."""
import pytest

from emanet.utils.errors import UserError

from helpers.tool_loader import load_tool

TOOL = 'tools/deployment/quantize.py'


def run(tmp_path, *argv):
    # the config is never read: every check here comes first
    return load_tool(TOOL).main([str(tmp_path / 'unread.py'), *argv])


def test_defaults():
    args = load_tool(TOOL).parse_args(['c.py', 'm.onnx'])
    assert args.output_file == 'model_int8.xml'
    assert (args.calib_split, args.max_drop, args.num_val,
            args.int8_attention) == ('train', None, None, False)
    assert args.num_calib == 300


@pytest.mark.parametrize('argv,message', [
    (['m.xml'], 'm.xml: quantize.py takes the .onnx file of '
     'tools/deployment/pytorch2onnx.py'),
    (['m.onnx', '--output-file', 'q.bin'], '--output-file q.bin: an '
     'OpenVINO IR ends in .xml'),
    (['m.onnx', '--output-file', '{tmp}/q.xml', '--max-drop', '-1'],
     '--max-drop -1.0: use 0 or more mIoU points'),
    (['m.onnx', '--output-file', '{tmp}/q.xml', '--max-drop', 'inf'],
     '--max-drop inf: use 0 or more mIoU points'),
    (['m.onnx', '--output-file', '{tmp}/q.xml', '--num-calib', '0'],
     '--num-calib and --num-val: use 1 or more images'),
    (['m.onnx', '--output-file', '{tmp}/q.xml', '--num-val', '0'],
     '--num-calib and --num-val: use 1 or more images'),
])
def test_wrong_values_are_one_line(tmp_path, argv, message):
    argv = [a.replace('{tmp}', str(tmp_path)) for a in argv]
    with pytest.raises(UserError) as err:
        run(tmp_path, *argv)
    assert str(err.value) == message
    assert list(tmp_path.iterdir()) == []


def test_output_folder_must_be_writable(tmp_path):
    a_file = tmp_path / 'taken'
    a_file.write_text('x')
    with pytest.raises(UserError, match=f'--output-file {a_file}/q.xml: '
                       f'{a_file} is a file, not a folder'):
        run(tmp_path, 'm.onnx', '--output-file', str(a_file / 'q.xml'))

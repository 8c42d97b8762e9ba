"""The program of docs/kaggle.md: unchanged kagglehub and keras_hub calls."""


def main() -> None:
    import kagglehub
    import keras_hub

    model_dir = kagglehub.model_download("testorg/half-plus-two/tensorFlow2/tiny/3")
    saved_model = kagglehub.model_download("testorg/half-plus-two/tensorFlow2/tiny/3", path="saved_model.pb")
    backbone = keras_hub.models.Backbone.from_preset("kaggle://keras/gpt2/keras/gpt2_tiny/2")
    print(model_dir, saved_model, backbone.count_params())

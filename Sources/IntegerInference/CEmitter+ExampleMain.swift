extension CEmitter {
    /// An example `main.c`: reads examples of input codes from a binary file (each example
    /// `MODEL_INPUT_SIZE` values of `model_input_t`, little-endian) and prints the predicted
    /// class of each, one per line; with `-o` it prints the outputs instead.
    public static func exampleMain(name: String = "model") -> String {
        let upper = name.uppercased()
        return """
            /* Example: predicted classes for the examples in a binary file of input codes.
               Usage: ./\(name) INPUT.bin        one predicted class per line
                      ./\(name) -o INPUT.bin     the output values of each example, space-separated */
            #include <stdio.h>
            #include <string.h>
            #include "\(name).h"

            static \(name)_input_t input[\(upper)_INPUT_SIZE];
            static \(name)_output_t output[\(upper)_OUTPUT_SIZE];

            int main(int argc, char **argv) {
                int outputs = argc == 3 && strcmp(argv[1], "-o") == 0;
                const char *path = argv[argc - 1];
                FILE *f;
                size_t got;
                if (argc < 2 || argc > 3 || (argc == 3 && !outputs)) {
                    fprintf(stderr, "usage: %s [-o] INPUT.bin\\n", argv[0]);
                    return 2;
                }
                f = fopen(path, "rb");
                if (f == NULL) {
                    fprintf(stderr, "cannot open %s\\n", path);
                    return 1;
                }
                while ((got = fread(input, sizeof(input[0]), \(upper)_INPUT_SIZE, f)) == \(upper)_INPUT_SIZE) {
                    \(name)_run(input, output);
                    if (outputs) {
                        int k;
                        for (k = 0; k < \(upper)_OUTPUT_SIZE; ++k) printf(k ? " %lld" : "%lld", (long long)output[k]);
                        printf("\\n");
                    } else {
                        printf("%d\\n", \(name)_argmax(output));
                    }
                }
                if (got != 0 || ferror(f)) {
                    fprintf(stderr, "%s: the file does not hold whole examples of %d codes\\n", path, \(upper)_INPUT_SIZE);
                    fclose(f);
                    return 1;
                }
                fclose(f);
                return 0;
            }

            """
    }
}
